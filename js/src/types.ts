/** The synced traits of a DesktopModel, as the kernel sends them (dcv_widget/ui/desktop.py). */

export type FieldKind = 'select' | 'text' | 'number' | 'checkbox';
export type FieldValue = string | number | boolean;

export interface FieldOption {
  value: string;
  label: string;
  disabled?: boolean;
}

export interface Field {
  name: string;
  label: string;
  kind: FieldKind;
  value: FieldValue;
  options: FieldOption[];
  error: string;
  /** A choice the kernel accepts but that will not work by itself (a partition that is down). */
  warning: string;
  hint: string;
  /** Nothing to offer here now (no GPU types on the partition, no reservation for you): not shown. */
  hidden: boolean;
  /** 'more': under the form's "More options" disclosure (rarely changed); '' for the main fields. */
  group: string;
  /** Values to suggest while typing (the partition's node features); [] for none. */
  suggestions: string[];
}

/** Buttons under the form; a kernel that sends no list gets Launch. */
export const LAUNCHER_ACTIONS = ['launch'] as const;

export type LauncherAction = (typeof LAUNCHER_ACTIONS)[number];

/** One preset of the chooser above the form: the site's, or the user's own (`mine`, deletable). */
export interface PresetOption {
  name: string;
  /** Its description, else what it asks for ('4 CPUs for 4 h'). */
  description: string;
  summary: string;
  mine: boolean;
  locked: boolean;
}

export interface Presets {
  options: PresetOption[];
  /** The preset the form holds; '' for Custom. */
  chosen: string;
  /** What is wrong with the user's presets file (its path, what to do); '' for nothing. */
  message: string;
  /** What the last save, delete or Launch again has to say; '' for nothing. */
  note: string;
}

export interface Launcher {
  /** The form's heading; a kernel that sends none gets 'New desktop'. */
  heading: string;
  fields: Field[];
  locked: boolean;
  can_launch: boolean;
  /** Why Launch is disabled, naming the fields to fix; '' when it is enabled. */
  launch_blocker: string;
  /** [] for a form without buttons (the class overview's filter and sort). */
  actions: LauncherAction[];
  message: string;
  /** What keeps the form from working at all (first line its heading), shown in a box; '' for none. */
  problem: string;
  /** The preset chooser above the fields; null on a locked form (or a kernel without presets). */
  presets: Presets | null;
  /** 'field#n': move the focus to that field when n changes (Launch again marked it). */
  focus: string;
}

/** 'pending': not yet (the desktop is on its way); 'unreached': never (it ended, or is ending, first). */
export type StepStatus = 'done' | 'current' | 'pending' | 'unreached' | 'failed';

export interface Step {
  id: string;
  label: string;
  status: StepStatus;
}

/** One shell's spelling of the command to run before Connect. */
export interface AccessCommand {
  shell: string;
  text: string;
}

export interface Access {
  route: string;
  label: string;
  /** The route is still being worked out (an AWS lookup). */
  pending: boolean;
  /** A missing prerequisite and what to do about it; no URL is shown, and Connect (if offered) looks again. */
  problem: string;
  instructions: string;
  commands: AccessCommand[];
  then: string;
  /** The jupyter route: where Connect goes, relative to JupyterLab's base URL (no secret). */
  open_path: string;
}

/** What a card offers, in the order the kernel lists them; anything else from the kernel is dropped. */
export const CARD_ACTIONS = ['connect', 'check', 'end', 'relaunch', 'dismiss', 'start', 'stop', 'reboot', 'terminate'] as const;

export type CardAction = (typeof CARD_ACTIONS)[number];

export interface Card {
  key: string;
  job_id: string;
  title: string;
  /** 'novnc' or 'dcv': a novnc card offers the display choice (display.ts). */
  engine: string;
  state: string;
  /** How an ended card looks beside its words: 'failed', 'ended' (any other end), or ''. */
  tone: string;
  unreachable: boolean;
  steps: Step[];
  detail: string;
  since: number;
  /** The words before the time ticking from `since` ('for', '· waiting'). */
  since_label: string;
  node: string;
  ends_at: number | null;
  /** Queued: the words before Slurm's expected start, or that Slurm has none yet ('' otherwise). */
  expected_label: string;
  /** Slurm's expected start (epoch seconds), worded and ticked after `expected_label`; null: none. */
  expected_start: number | null;
  /** From when (epoch seconds) the time left is shown as a warning; the kernel decides. */
  warn_at: number | null;
  /** A ready desktop nobody is connected to: when its job ends it (idle timeout); null: not idle. */
  idle_ends_at: number | null;
  /** From when the idle warning notifies (once); null: not idle. */
  idle_warn_at: number | null;
  /** Whether its changes notify while it is out of sight (notify.ts): desktops, the kernel says. */
  notify: boolean;
  outcome: string;
  log_tail: string;
  advice: string;
  /** An ended card's Launch again: what to change first ('' for nothing), and the field it marks. */
  relaunch_hint: string;
  relaunch_field: string;
  /** Launch again opens the form (something to change, or options not all known) rather than launching. */
  relaunch_form: boolean;
  /** What went wrong with the last Connect or End of this desktop, and what to do. */
  error: string;
  access: Access | null;
  /** Launched from another notebook (or the CLI): shown apart, ended only deliberately. */
  elsewhere: boolean;
  /** A row of the dense list under the cards shown in full (the kernel decides which). */
  compact: boolean;
  actions: CardAction[];
}

/** Messages the view sends to the kernel. */
export type ViewMessage =
  | { action: 'set'; field: string; value: FieldValue }
  | { action: 'launch' }
  | { action: 'shown' }
  | { action: 'clock'; request: string }
  | { action: 'connect'; key: string; request: string; display?: { resize: string; quality: number; compression: number } }
  | { action: 'check'; key: string }
  | { action: 'end'; key: string }
  | { action: 'dismiss'; key: string }
  | { action: 'relaunch'; key: string }
  | { action: 'preset' | 'save_preset' | 'delete_preset'; name: string }
  | { action: 'start' | 'stop' | 'reboot' | 'terminate'; key: string };

/**
 * Messages from the kernel: the connect URL answers a Connect click and is never a trait; the
 * kernel's time (`now`, epoch seconds) answers a `clock` message.
 */
export interface KernelMessage {
  event: 'open' | 'open-failed' | 'clock';
  /** The id this view put in its message: other views of the model ignore the answer. */
  request: string;
  url?: string;
  now?: number;
}

// The kernel owns the data; these only make the renderer robust to a missing or older trait.

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function toLauncher(value: unknown): Launcher | null {
  if (value === null || typeof value !== 'object') {
    return null;
  }
  const raw = record(value);
  return {
    heading: str(raw.heading) || 'New desktop',
    fields: list(raw.fields).map((item) => {
      const f = record(item);
      const kind = f.kind === 'select' || f.kind === 'number' || f.kind === 'checkbox' ? f.kind : 'text';
      return {
        name: str(f.name),
        label: str(f.label) || str(f.name),
        kind,
        value: typeof f.value === 'number' || typeof f.value === 'boolean' ? f.value : str(f.value),
        options: list(f.options).map((o) => {
          const opt = record(o);
          return { value: str(opt.value), label: str(opt.label ?? opt.value), disabled: opt.disabled === true };
        }),
        error: str(f.error),
        warning: str(f.warning),
        hint: str(f.hint),
        hidden: f.hidden === true,
        group: str(f.group),
        suggestions: list(f.suggestions).map(str),
      };
    }),
    locked: raw.locked === true,
    can_launch: raw.can_launch === true,
    launch_blocker: str(raw.launch_blocker),
    actions: Array.isArray(raw.actions)
      ? raw.actions.map(str).filter((a): a is LauncherAction => (LAUNCHER_ACTIONS as readonly string[]).includes(a))
      : ['launch'],
    message: str(raw.message),
    problem: str(raw.problem),
    presets: toPresets(raw.presets),
    focus: str(raw.focus),
  };
}

function toPresets(value: unknown): Presets | null {
  if (value === null || typeof value !== 'object') {
    return null;
  }
  const raw = record(value);
  return {
    options: list(raw.options).map((item) => {
      const o = record(item);
      return {
        name: str(o.name),
        description: str(o.description),
        summary: str(o.summary),
        mine: o.mine === true,
        locked: o.locked === true,
      };
    }),
    chosen: str(raw.chosen),
    message: str(raw.message),
    note: str(raw.note),
  };
}

const STEP_STATUSES: readonly string[] = ['done', 'current', 'pending', 'unreached', 'failed'];

export function toCards(value: unknown): Card[] {
  return list(value).map((item) => {
    const c = record(item);
    const access = c.access !== null && typeof c.access === 'object' ? record(c.access) : null;
    return {
      key: str(c.key),
      job_id: str(c.job_id),
      title: str(c.title),
      engine: str(c.engine),
      state: str(c.state),
      tone: str(c.tone),
      unreachable: c.unreachable === true,
      steps: list(c.steps).map((s) => {
        const step = record(s);
        const status = STEP_STATUSES.includes(str(step.status)) ? str(step.status) : 'pending';
        return { id: str(step.id), label: str(step.label), status: status as StepStatus };
      }),
      detail: str(c.detail),
      since: typeof c.since === 'number' ? c.since : 0,
      since_label: str(c.since_label) || 'for',
      node: str(c.node),
      ends_at: typeof c.ends_at === 'number' ? c.ends_at : null,
      expected_label: str(c.expected_label),
      expected_start: typeof c.expected_start === 'number' ? c.expected_start : null,
      warn_at: typeof c.warn_at === 'number' ? c.warn_at : null,
      idle_ends_at: typeof c.idle_ends_at === 'number' ? c.idle_ends_at : null,
      idle_warn_at: typeof c.idle_warn_at === 'number' ? c.idle_warn_at : null,
      notify: c.notify === true,
      outcome: str(c.outcome),
      log_tail: str(c.log_tail),
      advice: str(c.advice),
      relaunch_hint: str(c.relaunch_hint),
      relaunch_field: str(c.relaunch_field),
      relaunch_form: c.relaunch_form === true,
      error: str(c.error),
      elsewhere: c.elsewhere === true,
      compact: c.compact === true,
      access: access
        ? {
            route: str(access.route),
            label: str(access.label),
            pending: access.pending === true,
            problem: str(access.problem),
            instructions: str(access.instructions),
            commands: list(access.commands)
              .map(record)
              .filter((cmd) => typeof cmd.shell === 'string' && typeof cmd.text === 'string' && cmd.text !== '')
              .map((cmd) => ({ shell: str(cmd.shell), text: str(cmd.text) })),
            then: str(access.then),
            open_path: str(access.open_path),
          }
        : null,
      // Unknown actions (a newer kernel) are dropped, and a repeated one kept once.
      actions: list(c.actions)
        .map(str)
        .filter((a, i, all): a is CardAction => isCardAction(a) && all.indexOf(a) === i),
    };
  });
}

function isCardAction(value: string): value is CardAction {
  return (CARD_ACTIONS as readonly string[]).includes(value);
}
