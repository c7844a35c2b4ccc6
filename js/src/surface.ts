import { CardCallbacks, CardList } from './cards';
import { LauncherForm } from './launcher';
import { observeCards, observeTimes, onScreen, PermissionPrompt, watch, Watcher } from './notify';
import { onTick, ServerClock } from './time';
import { Card, Launcher } from './types';

/**
 * The launcher form above the desktop cards, their times ticking: what both hosts show, the
 * notebook widget's view (widget.ts, talking to its kernel) and JupyterLab's Desktops panel
 * (panel.ts, talking to the Jupyter server's REST API). Each host only says how a message goes,
 * and feeds `clock` the server's time when it learns it: every countdown is on the server's clock.
 * The cards it shows are watched for notifications (notify.ts), once per page.
 */
export class DesktopsSurface {
  readonly form: LauncherForm;
  readonly cards: CardList;
  readonly clock = new ServerClock();
  /** "Allow browser notifications", for the host to place under the cards. */
  readonly permission = new PermissionPrompt();
  private shown: Card[] = [];
  private readonly watcher: Watcher;
  private stopTicking: (() => void) | null;
  private stopWatching: () => void;

  /** `live()`: whether the cards should tick now (the host is on the page and connected). */
  constructor(callbacks: CardCallbacks, live: () => boolean) {
    this.form = new LauncherForm(callbacks.send);
    this.cards = new CardList(callbacks, () => this.clock.now());
    this.watcher = {
      onScreen: () => onScreen(this.cards.el),
      shows: (key) => this.shown.some((card) => card.key === key),
      open: (card) => callbacks.connect(card, false),
    };
    this.stopWatching = watch(this.watcher);
    this.stopTicking = onTick((browserNow) => {
      if (live()) {
        const now = this.clock.now(browserNow);
        this.cards.tick(now);
        observeTimes(this.watcher, this.shown, now);
      }
    });
  }

  update(launcher: Launcher | null, cards: Card[]): void {
    this.form.update(launcher);
    this.showCards(cards);
  }

  showCards(cards: Card[]): void {
    this.shown = cards;
    this.cards.update(cards);
    this.permission.update(cards);
    observeCards(this.watcher, cards, this.clock.now());
  }

  /** A host that controls nothing now (no kernel, no server) keeps both from acting. */
  set inert(value: boolean) {
    this.form.el.inert = value;
    this.cards.el.inert = value;
    this.permission.el.inert = value;
  }

  dispose(): void {
    this.stopTicking?.();
    this.stopTicking = null;
    this.stopWatching();
    this.permission.dispose();
    this.form.dispose();
  }
}
