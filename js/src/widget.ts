import { DOMWidgetModel, DOMWidgetView, ISerializers } from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION } from './version';

/** An action the kernel may offer; the view shows exactly the ones listed in `actions`. */
type Action = 'launch' | 'connect' | 'end';

const LABELS: Record<Action, string> = {
  launch: 'Launch',
  connect: 'Connect',
  end: 'End',
};

const STATE_WORDS: Record<string, string> = {
  '': 'Not launched',
  submitting: 'Submitting',
  queued: 'Queued',
  starting: 'Node starting',
  launching: 'Desktop starting',
  ready: 'Ready',
  ended: 'Ended',
};

/** Messages from the kernel: the connect URL answers a Connect click and is never a trait. */
interface KernelMessage {
  event: 'open' | 'open-failed';
  /** The id this view put in its connect message: other views of the model ignore the answer. */
  request: string;
  url?: string;
}

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
      state: '',
      detail: '',
      job_id: '',
      node: '',
      outcome: '',
      time_left: '',
      unreachable: false,
      actions: ['launch'],
      options: {},
      error: '',
    };
  }

  static serializers: ISerializers = { ...DOMWidgetModel.serializers };
}

/** Renders a DesktopModel. Holds no state of its own but the tab it opened for Connect. */
export class DesktopView extends DOMWidgetView {
  private pendingTab: Window | null = null;
  private pendingRequest = '';
  private status!: HTMLElement;
  private facts!: HTMLElement;
  private errorBox!: HTMLElement;
  private buttons!: HTMLElement;

  render(): void {
    this.el.classList.add('dcv-widget');
    this.el.innerHTML = '';
    const header = document.createElement('div');
    header.className = 'dcv-widget-header';
    header.textContent = 'Remote desktop';
    this.status = document.createElement('div');
    this.status.className = 'dcv-widget-status';
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.facts = document.createElement('div');
    this.facts.className = 'dcv-widget-facts';
    this.errorBox = document.createElement('div');
    this.errorBox.className = 'dcv-widget-error';
    this.errorBox.setAttribute('role', 'alert');
    this.buttons = document.createElement('div');
    this.buttons.className = 'dcv-widget-buttons';
    this.el.append(header, this.status, this.facts, this.errorBox, this.buttons);

    // listenTo: the handlers go away with the view, so a removed view never opens a tab.
    this.listenTo(this.model, 'change', () => this.update());
    this.listenTo(this.model, 'msg:custom', (msg: KernelMessage) => this.onKernelMessage(msg));
    this.update();
  }

  update(): void {
    const state = this.model.get('state') as string;
    const word = STATE_WORDS[state] ?? state;
    const detail = this.model.get('detail') as string;
    this.el.dataset.state = state || 'new';
    this.status.textContent = detail ? `${word}: ${detail}` : word;
    if (this.model.get('unreachable')) {
      this.status.textContent += ' (scheduler not answering; retrying)';
    }

    const facts: string[] = [];
    const jobId = this.model.get('job_id') as string;
    const node = this.model.get('node') as string;
    const timeLeft = this.model.get('time_left') as string;
    const options = this.model.get('options') as Record<string, string | number>;
    if (jobId) {
      facts.push(`job ${jobId}`);
    }
    if (node) {
      facts.push(`node ${node}`);
    }
    if (timeLeft && state !== 'ended') {
      facts.push(`${timeLeft} left`);
    }
    if (!jobId && options.time) {
      facts.push(
        options.partition ? `partition ${options.partition}` : 'default partition',
        `${options.time} time limit`,
        `${options.cpus} CPU`,
        `${options.engine}`,
      );
    }
    this.facts.textContent = facts.join(' · ');

    const error = this.model.get('error') as string;
    this.errorBox.textContent = error;
    this.errorBox.hidden = !error;

    this.buttons.innerHTML = '';
    for (const action of this.model.get('actions') as Action[]) {
      this.buttons.append(this.button(action));
    }
  }

  private button(action: Action): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = LABELS[action];
    button.className = `jupyter-button dcv-widget-${action}`;
    if (action !== 'end') {
      button.classList.add('mod-primary');
    }
    button.addEventListener('click', () => this.onClick(action));
    return button;
  }

  private onClick(action: Action): void {
    if (action !== 'connect') {
      this.send({ action });
      return;
    }
    // Open the tab inside the click, so pop-up blockers allow it; the kernel's answer (the URL
    // with its secret) is then loaded into it.
    this.pendingTab?.close();
    this.pendingTab = window.open('', '_blank');
    this.pendingRequest = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    this.send({ action, request: this.pendingRequest });
  }

  private onKernelMessage(msg: KernelMessage): void {
    if (!this.pendingRequest || msg.request !== this.pendingRequest) {
      return;
    }
    const tab = this.pendingTab;
    this.pendingTab = null;
    this.pendingRequest = '';
    if (msg.event === 'open' && msg.url) {
      if (tab) {
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
