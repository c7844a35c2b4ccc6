/**
 * Notifications for desktops the user is not looking at: ready, 15 minutes before the time limit,
 * ended or failed, and about to end for want of a connection (idle timeout). A JupyterLab
 * notification and, once the user allowed it, a browser notification.
 *
 * One registry for the page: the notebook widgets and the Desktops panel all report the cards
 * they show (`observeCards`, `observeTimes`), and each event of a desktop notifies once however
 * many views show it. Only changes seen live notify: what a view shows when it first appears (a
 * reloaded page) is not news. Nothing notifies while a view showing the desktop is on screen in
 * a visible tab: the card says it there. Which cards notify at all is the kernel's word
 * (`card.notify`: desktops, not EC2 instances or a class overview's students).
 */

import { Notification as LabNotification } from '@jupyterlab/apputils';

import { cardTitle } from './cards';
import { button, h } from './dom';
import { Card } from './types';

/** The user's choices (JupyterLab's Settings Editor, "Remote desktops"; schema/plugin.json). */
export interface NotifySettings {
  notifyReady: boolean;
  notifyTimeLimit: boolean;
  notifyEnded: boolean;
  notifyIdle: boolean;
  browserNotifications: boolean;
}

const settings: NotifySettings = {
  notifyReady: true,
  notifyTimeLimit: true,
  notifyEnded: true,
  notifyIdle: true,
  browserNotifications: true,
};

/** How long before its time limit a desktop notifies (seconds). */
export const TIME_LIMIT_NOTICE = 15 * 60;

/** A view that shows cards: whether it is on screen now, and what Connect does there. */
export interface Watcher {
  onScreen(): boolean;
  shows(key: string): boolean;
  open(card: Card): void;
}

interface Seen {
  state: string;
  /** Seen on its way (not yet ready, not ended): its becoming ready is news. */
  onItsWay: boolean;
  /** More than TIME_LIMIT_NOTICE left when last seen. */
  beforeNotice: boolean;
  /** The idle spell (its end) seen before its warning time, '' for none. */
  idleArmed: string;
}

const watchers = new Set<Watcher>();
const seen = new Map<string, Seen>();
const fired = new Set<string>();
const prompts = new Set<() => void>();

export function configureNotifications(values: Partial<NotifySettings>): void {
  Object.assign(settings, values);
  prompts.forEach((refresh) => refresh());
}

/** Register a view; the returned function unregisters it. */
export function watch(watcher: Watcher): () => void {
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

/** Whether `el` is on screen: its tab visible and it laid out (not in a hidden Lab tab or panel). */
export function onScreen(el: HTMLElement): boolean {
  return !document.hidden && el.isConnected && el.getClientRects().length > 0;
}

/**
 * A view got new cards: state changes notify. Ready once it can be opened (its route worked out:
 * the notification offers Open desktop), if this page saw it on its way; ended, if seen before.
 */
export function observeCards(watcher: Watcher, cards: Card[], now: number): void {
  for (const card of cards) {
    if (!card.notify || !card.key) {
      continue;
    }
    const before = seen.get(card.key);
    if (before?.onItsWay && card.state === 'ready' && card.access !== null && !card.access.pending) {
      fire(watcher, card, 'ready', now);
    } else if (before && before.state !== 'ended' && card.state === 'ended') {
      fire(watcher, card, 'ended', now);
    }
    remember(card, now, before);
  }
}

/** The shared ticker's second: crossing times notify (15 minutes left, the idle warning). */
export function observeTimes(watcher: Watcher, cards: Card[], now: number): void {
  for (const card of cards) {
    const before = card.notify ? seen.get(card.key) : undefined;
    if (!before) {
      continue;
    }
    if (card.state !== 'ended' && card.ends_at !== null && before.beforeNotice) {
      const left = card.ends_at - now;
      if (left <= TIME_LIMIT_NOTICE && left > 0) {
        fire(watcher, card, 'limit', now);
      }
    }
    if (card.idle_ends_at !== null && card.idle_warn_at !== null && now >= card.idle_warn_at) {
      if (before.idleArmed === String(card.idle_ends_at)) {
        fire(watcher, card, `idle ${card.idle_ends_at}`, now);
      }
    }
    remember(card, now, before);
  }
}

function remember(card: Card, now: number, before: Seen | undefined): void {
  const spell = card.idle_ends_at === null ? '' : String(card.idle_ends_at);
  const early = card.idle_warn_at !== null && now < card.idle_warn_at;
  seen.set(card.key, {
    state: card.state,
    onItsWay: (before?.onItsWay ?? false) || (card.state !== 'ready' && card.state !== 'ended'),
    beforeNotice: card.ends_at !== null && card.ends_at - now > TIME_LIMIT_NOTICE,
    // Seen before its warning time, an idle spell stays armed until it ends (someone connected).
    idleArmed: spell && (early || before?.idleArmed === spell) ? spell : '',
  });
}

interface Message {
  setting: keyof NotifySettings;
  kind: 'info' | 'success' | 'warning' | 'error';
  text: string;
  /** Offer "Open desktop" (it is ready to connect). */
  open: boolean;
  /** Stays until dismissed: something to act on, or that went wrong. */
  sticky: boolean;
}

function minutes(seconds: number): string {
  return seconds < 60 ? 'under a minute' : `${Math.round(seconds / 60)} min`;
}

function message(card: Card, event: string, now: number): Message | null {
  const title = cardTitle(card);
  const open = card.actions.includes('connect');
  if (event === 'ready') {
    return { setting: 'notifyReady', kind: 'success', text: `${title} is ready.`, open, sticky: false };
  }
  if (event === 'ended') {
    const failed = card.tone === 'failed';
    const how = card.outcome.replace(/^Ended: /, '') || 'ended';
    return {
      setting: 'notifyEnded',
      kind: failed ? 'error' : 'info',
      text: failed ? `${title} failed: ${how}. Its card shows the job's log.` : `${title} ended: ${how}.`,
      open: false,
      sticky: failed,
    };
  }
  if (event === 'limit' && card.ends_at !== null) {
    return {
      setting: 'notifyTimeLimit',
      kind: 'warning',
      text: `${title} reaches its time limit in ${minutes(card.ends_at - now)}: save your work.`,
      open,
      sticky: true,
    };
  }
  if (event.startsWith('idle') && card.idle_ends_at !== null) {
    return {
      setting: 'notifyIdle',
      kind: 'warning',
      text: `Nobody is connected to ${title}: it ends in ${minutes(card.idle_ends_at - now)} unless someone connects.`,
      open,
      sticky: true,
    };
  }
  return null;
}

function fire(watcher: Watcher, card: Card, event: string, now: number): void {
  const id = `${card.job_id || card.key} ${event}`;
  if (fired.has(id)) {
    return;
  }
  fired.add(id);
  if ([...watchers].some((w) => w.shows(card.key) && w.onScreen())) {
    return; // its card is in sight and says it
  }
  const said = message(card, event, now);
  if (!said || !settings[said.setting]) {
    return;
  }
  const open = (): void => watcher.open(card);
  LabNotification.emit(said.text, said.kind, {
    autoClose: said.sticky ? false : 20_000,
    actions: said.open ? [{ label: 'Open desktop', callback: open, displayType: 'accent' }] : [],
  });
  if (settings.browserNotifications && browserAllowed()) {
    try {
      const shown = new window.Notification('Remote desktop', { body: said.text, tag: id });
      shown.onclick = () => {
        window.focus();
        if (said.open) {
          open();
        }
      };
    } catch (error) {
      // Some browsers (Chrome on Android) show notifications only through a service worker.
      console.warn('dcv-widget: this browser shows no notification from a page', error);
    }
  }
}

function browserAllowed(): boolean {
  return 'Notification' in window && window.Notification.permission === 'granted';
}

/**
 * "Allow browser notifications": shown under the cards while a desktop is live, the setting is
 * on and the browser has not been asked yet. The browser asks the user only on this click,
 * never by itself.
 */
export class PermissionPrompt {
  readonly el: HTMLElement;
  private live = false;
  private readonly forget: () => void;

  constructor() {
    const allow = button('Allow browser notifications', 'dcv-notify-allow', () => {
      void window.Notification.requestPermission().then(() => prompts.forEach((refresh) => refresh()));
    });
    this.el = h(
      'p',
      { class: 'dcv-notify-permission', hidden: '' },
      'A browser notification when a desktop is ready or about to end while this tab is in the background? ',
      allow,
    );
    const refresh = (): void => this.refresh();
    prompts.add(refresh);
    this.forget = () => prompts.delete(refresh);
  }

  update(cards: Card[]): void {
    this.live = cards.some((c) => c.notify && c.state !== 'ended');
    this.refresh();
  }

  dispose(): void {
    this.forget();
  }

  private refresh(): void {
    const ask = 'Notification' in window && window.Notification.permission === 'default';
    this.el.hidden = !(this.live && settings.browserNotifications && ask);
  }
}
