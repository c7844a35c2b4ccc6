/**
 * A desktop's progress as steps (submitted → queued → node → desktop → ready, and ending while it
 * ends): the full stepper of a card and the compact row's "3/5" with one dot per step. Each
 * status has its own icon and words, never colour alone; the kernel decides every status.
 */

import { h } from './dom';
import { Step, StepStatus } from './types';

/** Each step status has its own icon and words: never told by colour alone. */
export const STEP_MARKS: Record<StepStatus, { icon: string; words: string }> = {
  done: { icon: '✓', words: 'done' },
  current: { icon: '●', words: 'in progress' },
  pending: { icon: '', words: 'not yet' },
  unreached: { icon: '', words: 'not reached' },
  failed: { icon: '✕', words: 'failed' },
};

export function stepper(steps: Step[]): HTMLElement | null {
  if (steps.length === 0) {
    return null;
  }
  return h(
    'ol',
    { class: 'dcv-stepper', 'aria-label': 'Progress' },
    ...steps.map((step) =>
      h(
        'li',
        {
          class: 'dcv-step',
          'data-id': step.id,
          'data-status': step.status,
          'aria-current': step.status === 'current' ? 'step' : undefined,
        },
        h('span', { class: 'dcv-step-icon', 'aria-hidden': 'true' }, STEP_MARKS[step.status].icon),
        h('span', { class: 'dcv-step-label' }, step.label),
        h('span', { class: 'dcv-sr-only' }, ` (${STEP_MARKS[step.status].words})`),
      ),
    ),
  );
}

/** The compact row's stepper: "3/5" and one dot per step. */
export function miniStepper(steps: Step[]): HTMLElement | null {
  if (steps.length === 0) {
    return null;
  }
  let index = steps.findIndex((s) => s.status === 'current' || s.status === 'failed');
  if (index < 0) {
    index = steps.filter((s) => s.status === 'done').length - 1;
  }
  const at = steps[Math.max(index, 0)];
  const position = index + 1;
  return h(
    'span',
    {
      class: 'dcv-stepper-mini',
      role: 'img',
      'aria-label': `Step ${position} of ${steps.length}: ${at.label} (${STEP_MARKS[at.status].words})`,
    },
    h('span', { class: 'dcv-step-count', 'aria-hidden': 'true' }, `${position}/${steps.length}`),
    ...steps.map((s) =>
      h('span', { class: 'dcv-step-dot', 'data-status': s.status, 'data-id': s.id, title: s.label, 'aria-hidden': 'true' }),
    ),
  );
}
