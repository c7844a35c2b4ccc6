/**
 * How a noVNC desktop is shown: fit to the window (resize the remote desktop, scale it in the
 * browser, or neither), quality and compression 0–9 (Open OnDemand's sliders). The choice is the
 * browser's: kept in localStorage per desktop (by job id), the last one also as the default for
 * new desktops, and sent only with a Connect click (dcv_widget/desktops/display.py checks it and
 * puts it in noVNC's page URL). Never synced widget state: another browser chooses its own.
 */

import { h, uniqueId } from './dom';
import { Card } from './types';

export type ResizeMode = 'remote' | 'scale' | 'off';

export interface DisplayChoice {
  resize: ResizeMode;
  quality: number;
  compression: number;
}

/** noVNC's own defaults (quality 6, compression 2), with the desktop resized to the window. */
export const DEFAULT_DISPLAY: DisplayChoice = { resize: 'remote', quality: 6, compression: 2 };

const RESIZE_WORDS: Record<ResizeMode, [string, string]> = {
  remote: ['Resize the desktop to the window', 'resized to the window'],
  scale: ['Scale it in the browser', 'scaled in the browser'],
  off: ['Neither: its own size, with scroll bars', 'own size'],
};

const PREFIX = 'dcv-widget.display.';
const DEFAULT_KEY = `${PREFIX}default`;
/** Desktops remembered at most; the oldest choices go first (ended desktops' are never needed). */
const KEEP = 100;

function level(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 9 ? value : null;
}

/** A stored choice (parsed JSON) if it is a whole, valid one; null for anything else. */
export function parseDisplay(value: unknown): DisplayChoice | null {
  if (value === null || typeof value !== 'object') {
    return null;
  }
  const raw = value as Record<string, unknown>;
  const resize = raw.resize;
  const quality = level(raw.quality);
  const compression = level(raw.compression);
  if ((resize !== 'remote' && resize !== 'scale' && resize !== 'off') || quality === null || compression === null) {
    return null;
  }
  return { resize, quality, compression };
}

/** The choice as the Jupyter server's Connect entry takes it: `resize=scale&quality=2&compression=8`. */
export function displayQuery(choice: DisplayChoice): string {
  return `resize=${choice.resize}&quality=${choice.quality}&compression=${choice.compression}`;
}

/** "resized to the window · quality 6 · compression 2". */
export function displayWords(choice: DisplayChoice): string {
  return `${RESIZE_WORDS[choice.resize][1]} · quality ${choice.quality} · compression ${choice.compression}`;
}

function read(key: string): DisplayChoice | null {
  try {
    const text = window.localStorage.getItem(key);
    return text === null ? null : parseDisplay(JSON.parse(text));
  } catch {
    return null; // storage off (a private window's policy) or not JSON: as if never chosen
  }
}

function storeKey(jobId: string): string {
  return `${PREFIX}job.${jobId}`;
}

/** The choice for desktop `jobId`: its own, else the browser's last, else the default. */
export function loadDisplay(jobId: string): DisplayChoice {
  return read(storeKey(jobId)) ?? read(DEFAULT_KEY) ?? DEFAULT_DISPLAY;
}

/** Keep `choice` for desktop `jobId` and as the browser's default for new desktops. */
export function saveDisplay(jobId: string, choice: DisplayChoice): void {
  try {
    const storage = window.localStorage;
    storage.setItem(storeKey(jobId), JSON.stringify({ ...choice, at: Date.now() }));
    storage.setItem(DEFAULT_KEY, JSON.stringify(choice));
    const kept: [string, number][] = [];
    for (let i = 0; i < storage.length; i += 1) {
      const key = storage.key(i);
      if (key?.startsWith(`${PREFIX}job.`)) {
        let at = 0;
        try {
          at = Number((JSON.parse(storage.getItem(key) ?? '{}') as { at?: unknown }).at) || 0;
        } catch {
          // unreadable: oldest
        }
        kept.push([key, at]);
      }
    }
    kept.sort((a, b) => b[1] - a[1]);
    for (const [key] of kept.slice(KEEP)) {
      storage.removeItem(key);
    }
  } catch {
    // storage off: the choice holds for this page only (the control keeps showing it)
  }
}

/** The choice to send with Connect: noVNC desktops only (DCV's web client has its own settings). */
export function displayFor(card: Card): DisplayChoice | null {
  return card.engine === 'novnc' ? loadDisplay(card.job_id || card.key) : null;
}

/** The Jupyter server's Connect entry with the choice in its query (none: unchanged). */
export function withDisplay(path: string, choice: DisplayChoice | null): string {
  return choice ? `${path}${path.includes('?') ? '&' : '?'}${displayQuery(choice)}` : path;
}

/**
 * The card's Display control: a summary (what is chosen) and the body (fit, quality and
 * compression); each change is kept at once and the summary follows, with no rebuild.
 */
export function displayControl(card: Card): { summary: HTMLElement; body: HTMLElement } {
  const jobId = card.job_id || card.key;
  const ids = uniqueId('dcv-display');
  let choice = loadDisplay(jobId);
  const words = document.createTextNode(displayWords(choice));
  const summary = h('span', { class: 'dcv-display-summary' }, 'Display: ', words);
  const save = (next: DisplayChoice): void => {
    choice = next;
    saveDisplay(jobId, choice);
    words.data = displayWords(choice);
  };

  const choices = h('div', { class: 'dcv-display-choices' });
  const fit = h('fieldset', { class: 'dcv-display-fit' }, h('legend', null, 'Fit'), choices);
  for (const mode of ['remote', 'scale', 'off'] as const) {
    const input = h('input', {
      type: 'radio',
      name: `${ids}-fit`,
      value: mode,
      'data-focus': `display-${mode}`,
      'data-display': 'resize',
    });
    input.checked = choice.resize === mode;
    input.addEventListener('change', () => input.checked && save({ ...choice, resize: mode }));
    choices.append(h('label', { class: 'dcv-display-option' }, input, ` ${RESIZE_WORDS[mode][0]}`));
  }

  const slider = (name: 'quality' | 'compression', label: string, ends: string): HTMLElement => {
    const id = `${ids}-${name}`;
    const input = h('input', {
      type: 'range',
      id,
      min: '0',
      max: '9',
      step: '1',
      class: 'dcv-display-range',
      'data-focus': `display-${name}`,
      'data-display': name,
      'aria-describedby': `${id}-ends`,
    });
    input.value = String(choice[name]);
    const shown = h('output', { for: id, class: 'dcv-display-value' }, String(choice[name]));
    input.addEventListener('input', () => {
      const value = level(Number(input.value));
      if (value !== null) {
        shown.textContent = String(value);
        save({ ...choice, [name]: value });
      }
    });
    return h(
      'div',
      { class: 'dcv-display-level' },
      h('label', { for: id }, label),
      input,
      shown,
      h('span', { class: 'dcv-display-ends', id: `${id}-ends` }, ends),
    );
  };

  const body = h(
    'div',
    {
      class: 'dcv-display-body',
      role: 'group',
      'aria-label': 'How noVNC shows this desktop',
      'data-lm-suppress-shortcuts': 'true',
    },
    fit,
    slider('quality', 'Quality', '0 lowest, 9 best'),
    slider('compression', 'Compression', '0 none, 9 most (less bandwidth, more CPU)'),
    h(
      'p',
      { class: 'dcv-display-note' },
      'Used when Connect opens the desktop, and remembered in this browser. For a desktop already ' +
        "open, Connect again (its tab reloads) or use noVNC's own settings (⚙ in its side bar).",
    ),
  );
  // Arrow keys move the sliders and radios here, not the notebook's cell selection.
  body.addEventListener('keydown', (event) => event.stopPropagation());
  return { summary, body };
}
