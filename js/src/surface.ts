import { CardCallbacks, CardList } from './cards';
import { LauncherForm } from './launcher';
import { onTick } from './time';
import { Card, Launcher } from './types';

/**
 * The launcher form above the desktop cards, their times ticking: what both hosts show, the
 * notebook widget's view (widget.ts, talking to its kernel) and JupyterLab's Desktops panel
 * (panel.ts, talking to the Jupyter server's REST API). Each host only says how a message goes.
 */
export class DesktopsSurface {
  readonly form: LauncherForm;
  readonly cards: CardList;
  private stopTicking: (() => void) | null;

  /** `live()`: whether the cards should tick now (the host is on the page and connected). */
  constructor(callbacks: CardCallbacks, live: () => boolean) {
    this.form = new LauncherForm(callbacks.send);
    this.cards = new CardList(callbacks);
    this.stopTicking = onTick((now) => {
      if (live()) {
        this.cards.tick(now);
      }
    });
  }

  update(launcher: Launcher | null, cards: Card[]): void {
    this.form.update(launcher);
    this.cards.update(cards);
  }

  /** A host that controls nothing now (no kernel, no server) keeps both from acting. */
  set inert(value: boolean) {
    this.form.el.inert = value;
    this.cards.el.inert = value;
  }

  dispose(): void {
    this.stopTicking?.();
    this.stopTicking = null;
    this.form.dispose();
  }
}
