import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ApiError, DesktopsApi, FormValues } from './api';
import { cardTitle } from './cards';
import { displayFor, withDisplay } from './display';
import { h } from './dom';
import { openThroughJupyter } from './lab-tab';
import { DesktopsSurface } from './surface';
import { Card, Launcher, ViewMessage } from './types';

/** How often the list is asked for while the panel is on screen, or a launch is awaited. */
const SHOWN_POLL_MS = 2_000;
/** While the panel is hidden: only the command palette's desktop commands need the list then. */
const HIDDEN_POLL_MS = 30_000;
/** The partition labels are asked for again this often while the form is on screen. */
const FORM_REFRESH_MS = 45_000;

interface Awaited {
  resolve(card: Card): void;
  reject(error: Error): void;
}

/**
 * JupyterLab's Desktops panel: the same form and cards as the notebook widget (DesktopsSurface),
 * for every desktop of the user, talking to the Jupyter server's REST API instead of a kernel.
 * The server decides everything (validation, what a card says and offers); the panel polls the
 * list (an unchanged list costs an empty 304) and holds only the form's values.
 */
export class DesktopsPanel extends Widget {
  /** Called with the cards after every change of the list (the plugin's palette commands). */
  onCards: (cards: Card[]) => void = () => undefined;
  private readonly surface: DesktopsSurface;
  private readonly status: HTMLElement;
  private readonly empty: HTMLElement;
  private cards: Card[] = [];
  private values: FormValues = {};
  private launcher: Launcher | null = null;
  private formRead = 0;
  /** What went wrong with the last action (kept until one succeeds) and with the list. */
  private actionError = '';
  private listError = '';
  private timer: number | undefined;
  private awaited = new Map<string, Awaited>();

  constructor(private readonly api: DesktopsApi) {
    super();
    this.id = 'dcv-desktops-panel';
    this.addClass('dcv-panel');
    this.title.caption = 'Desktops on the cluster';
    this.surface = new DesktopsSurface(
      { send: (msg) => this.send(msg), connect: (card, browserTab) => void this.connect(card, browserTab) },
      () => this.isVisible,
    );
    this.status = h('p', { class: 'dcv-panel-status', role: 'alert', hidden: '' });
    this.empty = h(
      'p',
      { class: 'dcv-panel-empty' },
      'No desktop yet. Launch one here, or from a notebook with Desktop(): every desktop of yours shows here.',
    );
    this.node.append(
      h(
        'div',
        { class: 'dcv-panel-body' },
        h('h2', { class: 'dcv-panel-heading', tabindex: '-1' }, 'Desktops'),
        this.status,
        this.surface.form.el,
        this.empty,
        this.surface.cards.el,
        this.surface.permission.el,
      ),
    );
    this.surface.form.update(null);
    void this.loadForm();
    void this.refresh();
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.surface.dispose();
    super.dispose();
  }

  /** Launch with the site's defaults (the Launcher tile); resolves with the card once Ready. */
  async launchDefaults(): Promise<Card> {
    const card = await this.api.launch({});
    const ready = new Promise<Card>((resolve, reject) => this.awaited.set(card.key, { resolve, reject }));
    await this.refresh();
    return ready;
  }

  /** Keyboard focus to the form's first field (the Launcher tile, when the site wants the form). */
  focusForm(): void {
    this.node.querySelector<HTMLElement>('.dcv-field-input, .dcv-launch')?.focus();
  }

  /** A desktop's card by job id or key, as last listed. */
  find(ident: string): Card | undefined {
    return this.cards.find((c) => c.key === ident || c.job_id === ident);
  }

  async connect(card: Card, browserTab = false): Promise<void> {
    const title = cardTitle(card);
    const display = displayFor(card); // this browser's choice for a noVNC desktop
    if (card.access?.open_path) {
      openThroughJupyter(withDisplay(card.access.open_path, display), title, browserTab);
      return;
    }
    // A desktop on another route (launched from a notebook with access="ssh"): the server's
    // proxy reaches it all the same.
    await this.guard(async () => openThroughJupyter(withDisplay(await this.api.connectPath(card.key), display), title));
  }

  async end(card: Card): Promise<void> {
    await this.guard(() => this.api.act(card.key, 'end'));
    await this.refresh();
  }

  /** Asks for the list now, and again after the pace of the moment. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const cards = await this.api.desktops(this.surface.clock);
      if (cards !== null) {
        this.showCards(cards);
      }
      this.listError = '';
    } catch (error) {
      this.listError = words(error);
    }
    this.say();
    if (this.isDisposed) {
      return;
    }
    const fast = this.isVisible || this.awaited.size > 0;
    this.timer = window.setTimeout(() => void this.refresh(), fast ? SHOWN_POLL_MS : HIDDEN_POLL_MS);
  }

  /** Activated (its sidebar tab, the palette): keyboard focus goes into the panel. */
  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this.node.contains(document.activeElement)) {
      this.node.querySelector<HTMLElement>('.dcv-panel-heading')?.focus();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
    if (Date.now() - this.formRead > FORM_REFRESH_MS) {
      void this.loadForm();
    }
  }

  private showCards(cards: Card[]): void {
    this.cards = cards;
    this.surface.showCards(cards);
    this.empty.hidden = cards.length > 0;
    for (const [key, awaited] of this.awaited) {
      const card = cards.find((c) => c.key === key);
      if (card?.state === 'ready') {
        this.awaited.delete(key);
        awaited.resolve(card);
      } else if (!card || card.state === 'ended') {
        this.awaited.delete(key);
        const why = card ? card.outcome || 'it ended' : 'it is no longer listed';
        awaited.reject(new Error(`Desktop ${card?.job_id ?? ''} did not become ready: ${why}. See its card in the Desktops panel.`));
      }
    }
    this.onCards(cards);
  }

  private send(msg: ViewMessage): void {
    switch (msg.action) {
      case 'set':
        this.values[msg.field] = msg.value;
        void this.loadForm();
        break;
      case 'shown':
        if (Date.now() - this.formRead > FORM_REFRESH_MS) {
          void this.loadForm();
        }
        break;
      case 'launch':
        void this.launch();
        break;
      case 'relaunch':
        void this.relaunch(msg.key);
        break;
      case 'preset':
        // A preset: the form sits on it; Custom: the values shown stay, free to edit.
        this.values = msg.name ? { preset: msg.name } : this.shownValues();
        void this.loadForm();
        break;
      case 'save_preset':
        void this.presetAction(() => this.api.savePreset(msg.name, this.values), { preset: msg.name });
        break;
      case 'delete_preset':
        void this.presetAction(() => this.api.deletePreset(msg.name), this.values.preset === msg.name ? this.shownValues() : this.values);
        break;
      case 'end':
      case 'dismiss':
      case 'check': {
        const action = msg.action;
        void this.guard(() => this.api.act(msg.key, action)).then(() => this.refresh());
        break;
      }
      default:
        break;
    }
  }

  /** The form's values as shown now (no preset under them): Custom keeps them. */
  private shownValues(): FormValues {
    const values: FormValues = {};
    for (const field of this.launcher?.fields ?? []) {
      values[field.name] = field.value;
    }
    return values;
  }

  /** Save or delete a preset; the server's form answers it, and the values sit on `values`. */
  private async presetAction(work: () => Promise<Launcher | null>, values: FormValues): Promise<void> {
    try {
      const launcher = await work();
      this.values = values;
      this.showForm(launcher);
      this.actionError = '';
    } catch (error) {
      // A refused name is said under the chooser, where it was typed.
      if (this.launcher?.presets && error instanceof ApiError && error.status === 400) {
        this.showForm({ ...this.launcher, presets: { ...this.launcher.presets, note: `Not saved: ${error.message}` } });
      } else {
        this.actionError = words(error);
      }
    }
    this.say();
  }

  /** Launch again: a new desktop, or the form opened on the old one's values to change first. */
  private async relaunch(key: string): Promise<void> {
    await this.guard(async () => {
      const answer = await this.api.relaunch(key);
      if ('values' in answer) {
        this.values = answer.values;
        this.formRead = Date.now(); // the marked field stays marked until an edit or the next refresh
        this.showForm(answer.launcher);
      }
    });
    await this.refresh();
  }

  private async loadForm(): Promise<void> {
    this.formRead = Date.now();
    await this.guard(async () => this.showForm(await this.api.form(this.values)));
  }

  private async launch(): Promise<void> {
    const values = this.launcher?.locked ? {} : { ...this.values };
    try {
      await this.api.launch(values);
      this.actionError = '';
    } catch (error) {
      if (error instanceof ApiError && error.launcher) {
        this.showForm(error.launcher);
      }
      this.actionError = words(error);
    }
    this.say();
    await this.refresh();
  }

  private showForm(launcher: Launcher | null): void {
    this.launcher = launcher;
    this.surface.form.update(launcher);
  }

  /** Runs `work`; a failure is said in the panel, in words, and true is returned on success. */
  private async guard(work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      this.actionError = '';
      return true;
    } catch (error) {
      this.actionError = words(error);
      return false;
    } finally {
      this.say();
    }
  }

  private say(): void {
    const message = [this.actionError, this.listError].filter(Boolean).join(' ');
    if (this.status.textContent !== message) {
      this.status.textContent = message;
    }
    this.status.hidden = !message;
  }
}

function words(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
