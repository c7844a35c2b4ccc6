/**
 * The desktop cards: one per entry of `cards`, keyed by `key`. A card's DOM is rebuilt only when
 * its data changed; the elapsed and time-left texts tick from the one shared timer.
 */

import { displayControl } from './display';
import { append, button, h, uniqueId } from './dom';
import { elapsedText, expectedText, idleText, leftText, nowSeconds, warning } from './time';
import { pendingText, problem, RoutePanel } from './route-panel';
import { miniStepper, stepper } from './stepper';
import { Card, CardAction, ViewMessage } from './types';

export interface CardCallbacks {
  send(msg: ViewMessage): void;
  /**
   * Connect needs the view: it opens the tab inside the click. `browserTab`: the user asked for a
   * browser tab (the ↗ button, or Connect with Ctrl, Cmd or Shift) rather than a JupyterLab tab.
   */
  connect(card: Card, browserTab: boolean): void;
}

const STATE_WORDS: Record<string, string> = {
  submitting: 'Submitting',
  queued: 'Queued',
  starting: 'Node starting',
  launching: 'Desktop starting',
  ready: 'Ready',
  ended: 'Ended',
  // Class overview (a student's job as Slurm sees it) and EC2 instances.
  running: 'Running',
  ending: 'Ending',
  stopping: 'Stopping',
  stopped: 'Stopped',
  'shutting-down': 'Shutting down',
};

const UNREACHABLE = 'scheduler not answering, retrying';

/** A confirmation row: the question, the button that does it and the one that backs out. */
interface Confirmation {
  /** The group's accessible name. */
  label: string;
  question: string;
  yes: string;
  yesClass: string;
  no: string;
  noClass: string;
  /** data-action and data-focus of the back-out button ('keep' for End, as it always was). */
  noName: string;
  /** The colour of the row's frame: 'danger' (error colour) or 'warn'. */
  tone: 'danger' | 'warn';
}

interface ActionSpec {
  label: string;
  className: string;
  confirm: Confirmation | null;
}

function confirmation(
  name: string,
  label: string,
  question: string,
  yes: string,
  no: string,
  tone: 'danger' | 'warn',
  noName = `${name}-cancel`,
): Confirmation {
  return {
    label,
    question,
    yes,
    yesClass: `${tone === 'danger' ? 'mod-danger' : 'dcv-caution'} dcv-${name}-confirm`,
    no,
    noClass: noName === 'keep' ? 'dcv-keep' : `dcv-${name}-cancel`,
    noName,
    tone,
  };
}

/**
 * Every card action, desktop or instance: its button, and the question asked before it is sent.
 * Each button has data-action and data-focus `<name>`; a confirmation's buttons `<name>-confirm`
 * and `<name>-cancel` (End's keeps its 'keep').
 */
const ACTIONS: Record<CardAction, ActionSpec> = {
  connect: { label: 'Connect', className: 'mod-primary dcv-connect', confirm: null },
  check: { label: 'Check again', className: 'dcv-check', confirm: null },
  end: {
    label: 'End',
    className: 'dcv-end',
    confirm: confirmation('end', 'Confirm ending this desktop', 'End this desktop?', 'End desktop', 'Keep', 'danger', 'keep'),
  },
  dismiss: { label: 'Dismiss', className: 'dcv-dismiss', confirm: null },
  // 'Launch again…' where it opens the form (the card says what to change): actionLabel.
  relaunch: { label: 'Launch again', className: 'dcv-relaunch', confirm: null },
  start: { label: 'Start', className: 'dcv-start', confirm: null },
  stop: {
    label: 'Stop',
    className: 'dcv-stop',
    confirm: confirmation('stop', 'Confirm stopping this instance', 'Stop this instance?', 'Stop instance', 'Keep running', 'warn'),
  },
  reboot: {
    label: 'Reboot',
    className: 'dcv-reboot',
    confirm: confirmation('reboot', 'Confirm rebooting this instance', 'Reboot this instance?', 'Reboot now', 'Cancel', 'warn'),
  },
  terminate: {
    label: 'Terminate',
    className: 'dcv-terminate dcv-danger',
    confirm: confirmation(
      'terminate',
      'Confirm terminating this instance',
      'Terminate this instance?',
      'Terminate instance',
      'Keep',
      'danger',
    ),
  },
};

interface Entry {
  card: Card;
  signature: string;
  el: HTMLElement;
  elapsed: Text | null;
  left: HTMLElement | null;
  leftText: Text | null;
  /** A queued desktop's 'Slurm expects it to start in about …', ticking. */
  expected: Text | null;
  /** A compact row's detail cell: its tooltip is the whole line, estimate included, ticking with it. */
  rowDetail: HTMLElement | null;
  /** A ready desktop nobody is connected to: 'ends in 4m 59s unless someone connects', ticking. */
  idle: HTMLElement | null;
  idleText: Text | null;
}

/** Put `order` into `list` moving only what is out of place: unchanged cards keep their node, focus and scroll. */
/** A group's two lists: the cards shown in full, then the dense list of rows. */
function cardLists(label: string, rowsLabel: string): [HTMLUListElement, HTMLUListElement] {
  return [
    h('ul', { class: 'dcv-cards', 'aria-label': label }),
    h('ul', { class: 'dcv-cards', 'data-compact': 'true', 'aria-label': rowsLabel }),
  ];
}

function place(list: HTMLUListElement, order: HTMLElement[]): void {
  let ref = list.firstChild;
  for (const el of order) {
    if (el === ref) {
      ref = ref.nextSibling;
    } else {
      list.insertBefore(el, ref);
    }
  }
}

function stateWord(state: string): string {
  return STATE_WORDS[state] ?? state;
}

/** A compact row's tooltip: its whole line, estimate included (a row cuts its line short but a queued one's). */
function rowTooltip(card: Card, expected: string): string {
  return [card.outcome || card.detail, card.outcome ? '' : expected].filter(Boolean).join(' · ');
}

/** A button's words: Launch again says with '…' that it opens the form rather than launching. */
function actionLabel(name: CardAction, card: Card): string {
  return name === 'relaunch' && card.relaunch_form ? 'Launch again…' : ACTIONS[name].label;
}

/** The desktop's name as its card titles it (a Lab tab is named the same). */
export function cardTitle(card: Card): string {
  return card.title || (card.job_id ? `Desktop ${card.job_id}` : 'Desktop');
}

function cardName(card: Card): string {
  const title = cardTitle(card);
  return card.job_id && !title.includes(card.job_id) ? `${title} (job ${card.job_id})` : title;
}

function sentence(card: Card): string {
  const name = cardName(card);
  switch (card.state) {
    case 'ready':
      return `${name} is ready`;
    case 'ended':
      return card.outcome ? `${name}: ${card.outcome}` : `${name} ended`;
    case 'queued':
      return `${name} is queued`;
    case 'submitting':
      return `${name} is being submitted`;
    default:
      return `${name}: ${stateWord(card.state).toLowerCase()}`;
  }
}

export class CardList {
  readonly el: HTMLElement;
  /** This notebook's cards shown in full, then the rest as rows of a dense list. */
  private readonly lists: [HTMLUListElement, HTMLUListElement];
  /** The user's desktops launched elsewhere (another notebook, the CLI), behind a disclosure. */
  private readonly others: HTMLDetailsElement;
  private readonly othersLists: [HTMLUListElement, HTMLUListElement];
  private readonly othersLabel: Text;
  private readonly announcer: HTMLElement;
  private readonly ids = uniqueId('dcv-cards');
  private entries = new Map<string, Entry>();
  private cards: Card[] = [];
  /**
   * The action whose question a card shows ("End this desktop?"), by card key: one at a time per
   * card; view-local, like which <details> are open.
   */
  private confirming = new Map<string, CardAction>();
  private opened = new Set<string>();
  /** Disclosures the user closed that would open by themselves (a command to run first). */
  private closed = new Set<string>();
  /** Each card's route panel, which remembers the chosen shell tab across rebuilds. */
  private readonly routes = new RoutePanel();
  private lastStates: Map<string, string> | null = null;
  private builds = 0;

  /** `clock`: the server's "now" (epoch seconds) as the view estimates it (time.ts, ServerClock). */
  constructor(
    private readonly callbacks: CardCallbacks,
    private readonly clock: () => number = nowSeconds,
  ) {
    this.announcer = h('div', {
      class: 'dcv-announcer dcv-sr-only',
      role: 'status',
      'aria-live': 'polite',
      'aria-atomic': 'true',
    });
    this.lists = cardLists('Desktops', 'More desktops');
    this.othersLists = cardLists('Your other desktops', 'More of your other desktops');
    this.othersLabel = document.createTextNode('');
    this.others = h('details', { class: 'dcv-others' }, h('summary', { 'data-focus': 'others' }, this.othersLabel), ...this.othersLists);
    this.el = h('div', { class: 'dcv-cards-region' }, this.announcer, ...this.lists, this.others);
  }

  update(cards: Card[]): void {
    this.announce(cards);
    this.cards = cards;
    const now = this.clock();
    const seen = new Set<string>();
    const order = new Map([...this.lists, ...this.othersLists].map((list) => [list, [] as HTMLElement[]]));
    for (const card of cards) {
      if (!card.key || seen.has(card.key)) {
        continue;
      }
      seen.add(card.key);
      let asked = this.confirming.get(card.key);
      if (asked && !card.actions.includes(asked)) {
        this.confirming.delete(card.key);
        asked = undefined;
      }
      const signature = `${asked ? `!${asked}` : ''}${JSON.stringify(card)}`;
      let entry = this.entries.get(card.key);
      if (!entry || entry.signature !== signature) {
        const fresh = this.build(card, signature, now);
        if (entry) {
          this.replace(entry.el, fresh.el);
        }
        this.entries.set(card.key, fresh);
        entry = fresh;
      }
      const [full, rows] = card.elsewhere ? this.othersLists : this.lists;
      order.get(card.compact ? rows : full)?.push(entry.el);
    }
    for (const [key, entry] of this.entries) {
      if (!seen.has(key)) {
        entry.el.remove();
        this.entries.delete(key);
        this.confirming.delete(key);
        this.opened.delete(`${key}/log`);
        this.opened.delete(`${key}/more`);
        this.opened.delete(`${key}/display`);
        this.closed.delete(`${key}/more`);
        this.routes.forget(key);
      }
    }
    for (const [list, els] of order) {
      place(list, els);
      list.hidden = els.length === 0;
    }
    const elsewhere = this.othersLists.reduce((n, list) => n + (order.get(list)?.length ?? 0), 0);
    this.others.hidden = elsewhere === 0;
    this.othersLabel.data = `Your other desktops (${elsewhere}): launched from another notebook or elsewhere`;
  }

  /** Called every second by the shared ticker: writes text only where it changed, reads nothing. */
  tick(now: number): void {
    for (const entry of this.entries.values()) {
      const card = entry.card;
      if (entry.elapsed) {
        const text = elapsedText(card.since, now, card.since_label);
        if (entry.elapsed.data !== text) {
          entry.elapsed.data = text;
        }
      }
      if (entry.expected) {
        const text = expectedText(card.expected_label, card.expected_start, now);
        if (entry.expected.data !== text) {
          entry.expected.data = text;
          if (entry.rowDetail) {
            entry.rowDetail.title = rowTooltip(card, text);
          }
        }
      }
      if (entry.left && entry.leftText && card.ends_at !== null) {
        const text = leftText(card.ends_at, now);
        if (entry.leftText.data !== text) {
          entry.leftText.data = text;
        }
        const warn = String(warning(card.warn_at, now));
        if (entry.left.dataset.warning !== warn) {
          entry.left.dataset.warning = warn;
        }
      }
      if (entry.idle && entry.idleText && card.idle_ends_at !== null) {
        const text = idleText(card.idle_ends_at, now);
        if (entry.idleText.data !== text) {
          entry.idleText.data = text;
        }
        const warn = String(warning(card.idle_warn_at, now));
        if (entry.idle.dataset.warning !== warn) {
          entry.idle.dataset.warning = warn;
        }
      }
    }
  }

  private refresh(key: string, focus: string): void {
    this.update(this.cards);
    const el = this.entries.get(key)?.el;
    const target = el?.querySelector<HTMLElement>(`[data-focus="${focus}"]`) ?? el;
    target?.focus();
  }

  private replace(old: HTMLElement, fresh: HTMLElement): void {
    const active = document.activeElement;
    const focus = active instanceof HTMLElement && old.contains(active) ? active.dataset.focus ?? '' : null;
    old.replaceWith(fresh);
    if (focus !== null) {
      const target = (focus && fresh.querySelector<HTMLElement>(`[data-focus="${focus}"]`)) || fresh;
      target.focus({ preventScroll: true });
    }
  }

  private announce(cards: Card[]): void {
    const states = new Map(cards.map((c) => [c.key, `${c.state}|${c.unreachable}`]));
    const previous = this.lastStates;
    this.lastStates = states;
    if (previous === null) {
      return; // what was already there when the view appeared is not news
    }
    const messages: string[] = [];
    for (const card of cards) {
      const before = previous.get(card.key);
      if (before === states.get(card.key)) {
        continue;
      }
      const [state, unreachable] = before ? before.split('|') : ['', 'false'];
      if (card.state !== state) {
        messages.push(sentence(card));
      }
      if (card.unreachable && unreachable !== 'true') {
        messages.push(`${cardName(card)}: ${UNREACHABLE}`);
      } else if (!card.unreachable && unreachable === 'true') {
        messages.push(`${cardName(card)}: scheduler answering again`);
      }
    }
    if (messages.length > 0) {
      const shown = messages.slice(0, 4);
      const more = messages.length - shown.length;
      this.announcer.textContent = `${shown.join('. ')}.${more > 0 ? ` And ${more} more updates.` : ''}`;
    }
  }

  private build(card: Card, signature: string, now: number): Entry {
    this.builds += 1;
    const titleId = `${this.ids}-t${this.builds}`;
    const entry: Entry = {
      card,
      signature,
      el: h('li'),
      elapsed: null,
      left: null,
      leftText: null,
      expected: null,
      rowDetail: null,
      idle: null,
      idleText: null,
    };
    const el = entry.el;
    el.className = 'dcv-card';
    el.tabIndex = -1;
    el.dataset.key = card.key;
    el.dataset.state = card.state;
    el.dataset.tone = card.tone;
    el.dataset.jobId = card.job_id;
    el.dataset.unreachable = String(card.unreachable);
    el.setAttribute('aria-labelledby', titleId);

    const title = h('span', { class: 'dcv-card-title', id: titleId, role: 'heading', 'aria-level': '3' }, card.title || cardName(card));
    const stateLabel = h('span', { class: 'dcv-state-label', 'data-state': card.state }, stateWord(card.state));
    const badge = card.unreachable
      ? h('span', { class: 'dcv-badge dcv-unreachable' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), UNREACHABLE)
      : null;
    const facts = [card.job_id ? `job ${card.job_id}` : '', card.node ? `node ${card.node}` : ''].filter(Boolean).join(' · ');
    const factsEl = facts ? h('span', { class: 'dcv-card-facts' }, facts) : null;
    const left = this.timeLeft(entry, now);
    const detail = this.detail(entry, now);
    const idle = this.idleLine(entry, now);
    const actions = this.actions(card, titleId);

    if (card.compact) {
      el.dataset.compact = 'true';
      let summary = detail;
      if (card.outcome) {
        summary = h('span', { class: 'dcv-card-outcome' }, card.outcome);
        entry.elapsed = null;
      }
      entry.rowDetail = h('div', { class: 'dcv-row-detail', title: rowTooltip(card, entry.expected?.data ?? '') }, summary);
      const row = h(
        'div',
        { class: 'dcv-row' },
        h('div', { class: 'dcv-row-title' }, title, factsEl),
        h('div', { class: 'dcv-row-state' }, stateLabel, miniStepper(card.steps), badge),
        h('div', { class: 'dcv-row-time' }, left, idle),
        entry.rowDetail,
        actions,
      );
      el.append(row);
      if (card.error) {
        el.append(h('p', { class: 'dcv-card-error', role: 'alert' }, card.error));
      }
      if (card.access) {
        append(el, problem(card.access)); // outside the collapsed details: Connect waits on it
      }
      const more = [
        card.access ? this.routes.render(card.key, card.access, titleId, card.compact) : null,
        this.display(card),
        card.advice ? h('p', { class: 'dcv-card-advice' }, card.advice) : null,
        card.relaunch_hint ? h('p', { class: 'dcv-card-change', 'data-field': card.relaunch_field }, card.relaunch_hint) : null,
        card.log_tail ? h('pre', { class: 'dcv-log-text' }, card.log_tail) : null,
      ].filter((x): x is HTMLElement => x !== null);
      if (more.length > 0) {
        const label = card.access
          ? card.access.pending
            ? pendingText(card.access)
            : card.access.label || 'How to connect'
          : card.log_tail
            ? 'Job log and advice'
            : 'Details';
        // A command to run before Connect works is shown, not hidden behind a closed summary.
        const mustRunFirst = (card.access?.commands.length ?? 0) > 0;
        el.append(this.details(card.key, 'more', 'dcv-card-more', label, more, mustRunFirst));
      }
      return entry;
    }

    append(
      el,
      h('div', { class: 'dcv-card-head' }, title, stateLabel, badge, h('span', { class: 'dcv-spacer' }), left),
      factsEl ? h('div', { class: 'dcv-card-facts-row' }, factsEl) : null,
      stepper(card.steps),
      detail,
      idle,
      card.outcome ? h('p', { class: 'dcv-card-outcome' }, card.outcome) : null,
      card.advice ? h('p', { class: 'dcv-card-advice' }, card.advice) : null,
      card.relaunch_hint ? h('p', { class: 'dcv-card-change', 'data-field': card.relaunch_field }, card.relaunch_hint) : null,
      card.log_tail
        ? this.details(card.key, 'log', 'dcv-log', 'Job log (last lines)', [h('pre', { class: 'dcv-log-text' }, card.log_tail)])
        : null,
      card.access ? this.routes.render(card.key, card.access, titleId, card.compact) : null,
      this.display(card),
      card.error ? h('p', { class: 'dcv-card-error', role: 'alert' }, card.error) : null,
      actions,
    );
    return entry;
  }

  private timeLeft(entry: Entry, now: number): HTMLElement | null {
    const card = entry.card;
    if (card.ends_at === null || card.state === 'ended') {
      return null;
    }
    entry.leftText = document.createTextNode(leftText(card.ends_at, now));
    entry.left = h('span', { class: 'dcv-time-left', 'data-warning': String(warning(card.warn_at, now)) }, entry.leftText);
    return entry.left;
  }

  /** The idle warning of a ready desktop nobody is connected to (its idle timeout runs). */
  private idleLine(entry: Entry, now: number): HTMLElement | null {
    const card = entry.card;
    if (card.idle_ends_at === null) {
      return null;
    }
    entry.idleText = document.createTextNode(idleText(card.idle_ends_at, now));
    entry.idle = h('p', { class: 'dcv-card-idle', 'data-warning': String(warning(card.idle_warn_at, now)) }, entry.idleText);
    return entry.idle;
  }

  private detail(entry: Entry, now: number): HTMLElement | null {
    const card = entry.card;
    const ticking = card.since > 0 && card.state !== 'ended';
    if (!card.detail && !ticking) {
      return null;
    }
    const el = h('p', { class: 'dcv-card-detail' });
    if (card.detail) {
      el.append(h('span', { class: 'dcv-detail-text' }, card.detail));
    }
    if (ticking) {
      entry.elapsed = document.createTextNode(elapsedText(card.since, now, card.since_label));
      el.append(' ', h('span', { class: 'dcv-elapsed' }, entry.elapsed));
    }
    if (card.expected_label) {
      entry.expected = document.createTextNode(expectedText(card.expected_label, card.expected_start, now));
      el.append(' ', h('span', { class: 'dcv-expected-start' }, entry.expected));
    }
    return el;
  }

  /** A ready noVNC desktop's Display choice (display.ts), closed until opened; kept across rebuilds. */
  private display(card: Card): HTMLElement | null {
    if (card.engine !== 'novnc' || !card.actions.includes('connect')) {
      return null;
    }
    const control = displayControl(card);
    return this.details(card.key, 'display', 'dcv-display', control.summary, [control.body]);
  }

  /** A disclosure that keeps the user's choice across rebuilds; `openFirst`: open until closed. */
  private details(key: string, name: string, className: string, label: string | Node, body: HTMLElement[], openFirst = false): HTMLElement {
    const id = `${key}/${name}`;
    const el = h('details', { class: className }, h('summary', { 'data-focus': `summary-${name}` }, label), ...body);
    el.open = this.opened.has(id) || (openFirst && !this.closed.has(id));
    el.addEventListener('toggle', () => {
      if (el.open) {
        this.opened.add(id);
        this.closed.delete(id);
      } else {
        this.opened.delete(id);
        this.closed.add(id);
      }
    });
    return el;
  }

  private actions(card: Card, titleId: string): HTMLElement {
    const el = h('div', { class: 'dcv-card-actions' });
    const key = card.key;
    const asked = this.confirming.get(key);
    if (asked) {
      el.dataset.asking = asked; // the compact row gives the question a line of its own
    }
    for (const name of card.actions) {
      const spec = ACTIONS[name];
      const confirm = spec.confirm;
      if (confirm && asked === name) {
        el.append(
          h(
            'span',
            { class: 'dcv-confirm', role: 'group', 'aria-label': confirm.label, 'data-tone': confirm.tone },
            h(
              'span',
              { class: 'dcv-confirm-question' },
              card.elsewhere && name === 'end' ? `${confirm.question} It was launched from another notebook.` : confirm.question,
            ),
            button(
              confirm.yes,
              confirm.yesClass,
              () => {
                this.perform(name, card);
                this.confirming.delete(key);
                this.refresh(key, name);
              },
              { 'data-action': `${name}-confirm`, 'data-focus': `${name}-confirm`, 'aria-describedby': titleId },
            ),
            button(
              confirm.no,
              confirm.noClass,
              () => {
                this.confirming.delete(key);
                this.refresh(key, name);
              },
              { 'data-action': confirm.noName, 'data-focus': confirm.noName, 'aria-describedby': titleId },
            ),
          ),
        );
        continue;
      }
      const onClick = confirm
        ? () => {
            this.confirming.set(key, name); // replaces any other question open on this card
            this.refresh(key, confirm.noName);
          }
        : (event: MouseEvent) => this.perform(name, card, event.ctrlKey || event.metaKey || event.shiftKey);
      const runFirst = name === 'connect' && (card.access?.commands.length ?? 0) > 0;
      el.append(
        button(actionLabel(name, card), spec.className, onClick, {
          'data-action': name,
          'data-focus': name,
          'aria-describedby': titleId,
          title: runFirst ? 'Run the command shown on this card first; Connect then opens the desktop through it' : undefined,
        }),
      );
      if (name === 'connect' && card.access?.open_path) {
        el.append(
          button('↗', 'dcv-connect-tab', () => this.perform('connect', card, true), {
            'data-action': 'connect-tab',
            'data-focus': 'connect-tab',
            'aria-label': 'Open the desktop in a new browser tab',
            title: 'Open the desktop in a new browser tab',
            'aria-describedby': titleId,
          }),
        );
      }
    }
    return el;
  }

  private perform(action: CardAction, card: Card, browserTab = false): void {
    if (action === 'connect') {
      this.callbacks.connect(card, browserTab);
    } else {
      this.callbacks.send({ action, key: card.key });
    }
  }

}
