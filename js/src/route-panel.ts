/**
 * How to reach a ready desktop, on its card: the route's name and problem, its instructions, the
 * commands to run (a tab per shell, remembered per desktop) with Copy, and what Connect opens.
 */

import { button, h } from './dom';
import { Access, AccessCommand } from './types';

export class RoutePanel {
  /** The shell tab chosen on each desktop's card, kept across rebuilds of the card. */
  private shells = new Map<string, string>();

  /** Forget a desktop whose card is gone. */
  forget(key: string): void {
    this.shells.delete(key);
  }

  /** The route's panel: its name, a problem, instructions, the commands and what Connect does. */
  render(key: string, access: Access, idPrefix: string, compact: boolean): HTMLElement {
    return h(
      'div',
      {
        class: 'dcv-access',
        role: 'group',
        'aria-label': access.label || 'How to connect',
        'aria-busy': access.pending ? 'true' : undefined,
        'data-route': access.route,
      },
      access.pending
        ? h('p', { class: 'dcv-access-pending' }, pendingText(access))
        : access.label
          ? h('div', { class: 'dcv-access-label' }, access.label)
          : null,
      compact ? null : problem(access), // the compact card shows it above its details
      access.instructions ? h('p', { class: 'dcv-access-instructions' }, access.instructions) : null,
      this.commands(key, access.commands, idPrefix),
      access.then ? h('p', { class: 'dcv-access-then' }, access.then) : null,
    );
  }

  /** The command to run, with Copy; with several shells, a tab per shell picks the one shown. */
  private commands(key: string, commands: AccessCommand[], idPrefix: string): HTMLElement | null {
    if (commands.length === 0) {
      return null;
    }
    let shown = commands.find((c) => c.shell === this.shells.get(key)) ?? commands[0];
    const code = h('code', { class: 'dcv-command-text' }, shown.text);
    const feedback = h('span', { class: 'dcv-copy-feedback', 'aria-live': 'polite' });
    const panel = h(
      'div',
      { class: 'dcv-command' },
      h('pre', { class: 'dcv-command-pre' }, code),
      h(
        'div',
        { class: 'dcv-command-tools' },
        button('Copy', 'dcv-copy', () => void copy(code, feedback, shown.text), {
          'data-action': 'copy',
          'data-focus': 'copy',
          'aria-label': 'Copy',
          title: 'Copy the command',
        }),
        feedback,
      ),
    );
    if (commands.length === 1) {
      return h('div', { class: 'dcv-commands' }, panel);
    }

    panel.id = `${idPrefix}-command`;
    panel.setAttribute('role', 'tabpanel');
    const tabs = commands.map((cmd, i) => {
      const tab = h(
        'button',
        {
          type: 'button',
          role: 'tab',
          class: 'dcv-command-tab',
          id: `${idPrefix}-shell${i}`,
          'aria-controls': panel.id,
          'data-shell': cmd.shell,
          'data-focus': `shell-${i}`,
        },
        cmd.shell || `Command ${i + 1}`,
      );
      tab.addEventListener('click', () => choose(i));
      return tab;
    });
    const select = (index: number): void => {
      shown = commands[index];
      code.textContent = shown.text;
      feedback.textContent = '';
      delete feedback.dataset.copied;
      tabs.forEach((tab, i) => {
        tab.setAttribute('aria-selected', String(i === index));
        tab.tabIndex = i === index ? 0 : -1;
      });
      panel.setAttribute('aria-labelledby', tabs[index].id);
    };
    const choose = (index: number): void => {
      this.shells.set(key, commands[index].shell);
      select(index);
    };
    select(commands.indexOf(shown));

    const tablist = h('div', { class: 'dcv-command-tabs', role: 'tablist', 'aria-label': 'Shell' }, ...tabs);
    tablist.addEventListener('keydown', (event) => {
      const at = tabs.findIndex((tab) => tab === event.target);
      const moves: Record<string, number | undefined> = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: tabs.length - 1 };
      const next = moves[event.key];
      if (at < 0 || next === undefined) {
        return;
      }
      event.preventDefault();
      const index = (next + tabs.length) % tabs.length;
      choose(index);
      tabs[index].focus();
    });
    return h('div', { class: 'dcv-commands' }, tablist, panel);
  }
}

/** While the route is still being worked out (an AWS lookup). */
export function pendingText(access: Access): string {
  return access.label ? `${access.label}: finding how to reach the desktop…` : 'Finding how to reach the desktop…';
}

/** A missing prerequisite of the access route, and what to do about it. */
export function problem(access: Access): HTMLElement | null {
  return access.problem
    ? h('p', { class: 'dcv-access-problem', role: 'alert' }, h('span', { 'aria-hidden': 'true' }, '✕ '), access.problem)
    : null;
}

/** Clipboard API where the page may use it, else select the command and execCommand('copy'). */
async function copy(code: HTMLElement, feedback: HTMLElement, text: string): Promise<void> {
  let copied = false;
  if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      copied = false;
    }
  }
  if (!copied) {
    const selection = window.getSelection();
    if (selection) {
      const range = document.createRange();
      range.selectNodeContents(code);
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        copied = document.execCommand('copy');
      } catch {
        copied = false;
      }
    }
  }
  const mac = /Mac|iPhone|iPad/.test(navigator.platform);
  feedback.textContent = copied ? 'Copied' : `Selected: press ${mac ? '⌘C' : 'Ctrl+C'} to copy`;
  feedback.dataset.copied = String(copied);
  window.setTimeout(() => {
    feedback.textContent = '';
    delete feedback.dataset.copied;
  }, 2500);
}
