import { DOMWidgetModel, DOMWidgetView, ISerializers } from '@jupyter-widgets/base';

import { cardTitle } from './cards';
import { displayFor, withDisplay } from './display';
import { h } from './dom';
import { openThroughJupyter } from './lab-tab';
import { DesktopsSurface } from './surface';
import { nowSeconds } from './time';
import { Card, KernelMessage, toCards, toLauncher, ViewMessage } from './types';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** How long a Connect click waits for the kernel's answer before telling the user. */
const CONNECT_TIMEOUT_MS = 60_000;

export class DesktopModel extends DOMWidgetModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'DesktopModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: 'DesktopView',
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      launcher: null,
      cards: [],
    };
  }

  static serializers: ISerializers = { ...DOMWidgetModel.serializers };
}

/**
 * Renders a DesktopModel: the launcher form and one card per desktop. It holds no state of its
 * own but what is the browser's (the tabs it opened for Connect, an End awaiting confirmation,
 * open <details>); the kernel decides everything else.
 */
export class DesktopView extends DOMWidgetView {
  private surface!: DesktopsSurface;
  /** Connect requests awaiting the kernel's answer, each with the tab opened in its click. */
  private pending = new Map<string, Window | null>();
  private disconnected!: HTMLElement;
  /** Whether this view has seen its kernel: a lost one is a restart, not a notebook never run. */
  private wasLive = false;
  /** The clock question awaiting the kernel's answer, and when (this browser's clock) it went. */
  private clockAsked: { request: string; at: number } | null = null;

  render(): void {
    this.el.classList.add('dcv-widget');
    const send = (msg: ViewMessage): void => this.send(msg);
    this.surface = new DesktopsSurface(
      { send, connect: (card, browserTab) => this.connect(card, browserTab) },
      () => this.el.isConnected && this.model.comm_live,
    );
    this.disconnected = h('p', { class: 'dcv-disconnected', role: 'alert', hidden: '' });
    this.el.replaceChildren(this.disconnected, this.surface.form.el, this.surface.cards.el, this.surface.permission.el);

    // listenTo: the handlers go away with the view, so a removed view never opens a tab.
    this.listenTo(this.model, 'change:launcher', () => this.renderLauncher());
    this.listenTo(this.model, 'change:cards', () => this.renderCards());
    this.listenTo(this.model, 'msg:custom', (msg: KernelMessage) => this.onKernelMessage(msg));
    this.listenTo(this.model, 'comm_live_update', () => this.renderConnection());
    this.renderConnection();
    this.renderLauncher();
    this.renderCards();
  }

  remove(): this {
    this.surface?.dispose();
    for (const tab of this.pending.values()) {
      tab?.close();
    }
    this.pending.clear();
    return super.remove();
  }

  /**
   * Without its kernel (restarted, stopped, or never run in this session) the widget controls
   * nothing: it says so at once and its form and cards stop acting and ticking. The desktops
   * themselves go on running; running the cell again re-attaches to them.
   */
  private renderConnection(): void {
    const live = this.model.comm_live;
    if (live) {
      this.wasLive = true;
      this.askClock();
    }
    this.disconnected.hidden = live;
    this.disconnected.textContent = this.wasLive
      ? 'The kernel restarted or stopped: this widget no longer controls anything. Run this cell again to see and control your desktops (they keep running).'
      : 'This widget is not connected to a running kernel: run this cell to see and control your desktops.';
    this.el.toggleAttribute('data-disconnected', !live);
    this.surface.inert = !live;
  }

  private renderLauncher(): void {
    this.surface.form.update(toLauncher(this.model.get('launcher')));
  }

  private renderCards(): void {
    this.surface.showCards(toCards(this.model.get('cards')));
  }

  /** Ask the kernel its time (the cards' times are on its clock); the answer sets the offset. */
  private askClock(): void {
    const request = `clock-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    this.clockAsked = { request, at: nowSeconds() };
    this.send({ action: 'clock', request });
  }

  private connect(card: Card, browserTab: boolean): void {
    const openPath = card.access?.open_path;
    // How this browser chose to show a noVNC desktop: sent with this Connect only, never synced.
    const display = displayFor(card);
    if (openPath) {
      // Nothing to ask the kernel (it may even be gone): the Jupyter server finds the desktop.
      openThroughJupyter(withDisplay(openPath, display), cardTitle(card), browserTab);
      return;
    }
    const key = card.key;
    // Open the tab inside the click, so pop-up blockers allow it; the kernel's answer (the URL
    // with its secret) is then loaded into it.
    const request = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const tab = window.open('', '_blank');
    if (tab) {
      tab.document.title = 'Connecting…';
      tab.document.body.textContent = 'Connecting to your desktop…';
    }
    this.pending.set(request, tab);
    this.send(display ? { action: 'connect', key, request, display } : { action: 'connect', key, request });
    // A kernel that never answers (busy, restarted) must not leave a blank tab forever.
    window.setTimeout(() => this.giveUp(request), CONNECT_TIMEOUT_MS);
  }

  private giveUp(request: string): void {
    const tab = this.pending.get(request);
    if (tab === undefined) {
      return;
    }
    this.pending.delete(request);
    if (tab && !tab.closed) {
      tab.document.body.textContent =
        'The notebook kernel did not answer. Close this tab, check that the kernel is running, and click Connect again.';
    }
  }

  private onKernelMessage(msg: KernelMessage): void {
    const asked = this.clockAsked;
    if (msg?.event === 'clock' && asked && msg.request === asked.request && typeof msg.now === 'number') {
      this.surface.clock.measure(msg.now, asked.at, nowSeconds());
      this.clockAsked = null;
      return;
    }
    if (!msg || typeof msg.request !== 'string' || !this.pending.has(msg.request)) {
      return;
    }
    const tab = this.pending.get(msg.request) ?? null;
    this.pending.delete(msg.request);
    if (msg.event === 'open' && msg.url) {
      if (tab && !tab.closed) {
        tab.opener = null;
        tab.location.href = msg.url;
      } else {
        // The browser blocked the early tab; this open, outside a click, may be blocked too.
        window.open(msg.url, '_blank', 'noopener');
      }
    } else {
      tab?.close();
    }
  }
}
