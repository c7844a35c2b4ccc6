/** The launcher form: renders `launcher` and sends `set` and `launch`; validation is the kernel's. */

import { button, h, uniqueId } from './dom';
import { PresetChooser } from './presets';
import { Field, FieldValue, Launcher, ViewMessage } from './types';

const DEBOUNCE_MS = 300;
/**
 * How often a form on screen says so to the kernel (dcv_widget/ui/desktop.py, SHOWN_LEASE): it
 * re-reads the partitions' state only while someone can see the labels.
 */
const SHOWN_EVERY_MS = 20_000;

interface FieldRow {
  field: Field;
  signature: string;
  row: HTMLElement;
  control: HTMLInputElement | HTMLSelectElement | null;
  value: HTMLElement | null;
  /** The suggestions of a text field (node features), or null. */
  datalist: HTMLDataListElement | null;
  hint: HTMLElement;
  error: HTMLElement;
  warning: HTMLElement;
  timer?: number;
}

export class LauncherForm {
  readonly el: HTMLElement;
  private readonly heading: HTMLElement;
  private readonly body: HTMLElement;
  private readonly launchButton: HTMLButtonElement;
  /** Why Launch is disabled (the kernel's words), beside it. */
  private readonly blocker: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly message: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly ids = uniqueId('dcv-launcher');
  private rows = new Map<string, FieldRow>();
  private structure = '';
  /** The value last sent per field, so a blur after the debounce does not send it twice. */
  private sent = new Map<string, string>();
  private readonly shownTimer: number;
  /** "More options": the rarely changed fields (Slurm's QOS, reservation, …), folded. */
  private readonly more: HTMLDetailsElement;
  private readonly moreSummary: HTMLElement;
  private readonly moreBody: HTMLElement;
  /** What the folded fields hold ('QOS: desktop, …'), named in the summary while folded. */
  private moreHeld = '';
  /** The presets above the fields (presets.ts), and the last focus request done ('field#n'). */
  private readonly presets: PresetChooser;
  private focused: string | null = null;

  constructor(private readonly send: (msg: ViewMessage) => void) {
    this.heading = h('div', { class: 'dcv-launcher-heading', id: `${this.ids}-heading`, role: 'heading', 'aria-level': '3' }, 'New desktop');
    this.body = h('div', { class: 'dcv-fields' });
    this.blocker = h('span', { class: 'dcv-launch-blocker', id: `${this.ids}-blocker` });
    this.launchButton = button('Launch', 'mod-primary dcv-launch', () => this.launch(), { 'data-action': 'launch' });
    this.actions = h('div', { class: 'dcv-launcher-actions' }, this.launchButton, this.blocker);
    this.message = h('div', { class: 'dcv-launcher-message', 'aria-live': 'polite' });
    this.problem = h('div', { class: 'dcv-launcher-problem', role: 'alert' });
    this.moreSummary = h('summary', { class: 'dcv-more-summary' }, 'More options');
    this.moreBody = h('div', { class: 'dcv-more-body' });
    this.more = h('details', { class: 'dcv-more-options' }, this.moreSummary, this.moreBody);
    this.more.addEventListener('toggle', () => this.sayHeld());
    this.presets = new PresetChooser(send);
    this.el = h(
      'div',
      { class: 'dcv-launcher', role: 'group', 'aria-labelledby': `${this.ids}-heading`, 'data-lm-suppress-shortcuts': 'true' },
      this.heading,
      this.problem,
      this.presets.el,
      this.body,
      this.actions,
      this.message,
    );
    this.shownTimer = window.setInterval(() => this.sayShown(), SHOWN_EVERY_MS);
  }

  update(launcher: Launcher | null): void {
    this.el.hidden = launcher === null;
    if (launcher === null) {
      return;
    }
    this.sent.clear();
    const structure = JSON.stringify([launcher.locked, launcher.fields.map((f) => [f.name, f.kind])]);
    if (structure !== this.structure) {
      this.build(launcher);
      this.structure = structure;
    }
    for (const field of launcher.fields) {
      const row = this.rows.get(field.name);
      if (row) {
        this.patch(row, field);
      }
    }
    this.patchMore(launcher);
    this.el.dataset.locked = String(launcher.locked);
    if (this.heading.textContent !== launcher.heading) {
      this.heading.textContent = launcher.heading;
    }
    // Launch is the only button there is: a form without actions (the class overview) has none.
    const buttons = launcher.actions.includes('launch');
    if (buttons !== (this.actions.parentNode === this.el)) {
      if (buttons) {
        this.el.insertBefore(this.actions, this.message);
      } else {
        this.actions.remove();
      }
    }
    this.launchButton.disabled = !launcher.can_launch;
    if (this.blocker.textContent !== launcher.launch_blocker) {
      this.blocker.textContent = launcher.launch_blocker;
    }
    this.blocker.hidden = !launcher.launch_blocker;
    setOrRemove(this.launchButton, 'aria-describedby', launcher.launch_blocker ? this.blocker.id : '');
    if (this.message.textContent !== launcher.message) {
      this.message.textContent = launcher.message;
    }
    this.message.hidden = !launcher.message;
    if (this.problem.textContent !== launcher.problem) {
      this.problem.textContent = launcher.problem;
    }
    this.problem.hidden = !launcher.problem;
    this.presets.update(launcher.presets);
    this.focusAsked(launcher.focus);
  }

  /** Launch again opened the form: the marked field gets the focus (once per request). */
  private focusAsked(focus: string): void {
    const first = this.focused === null;
    if (focus === this.focused) {
      return;
    }
    this.focused = focus;
    if (first || !focus) {
      return; // a form drawn anew (a reload, a second view) does not take the focus
    }
    const row = this.rows.get(focus.split('#')[0]) ?? this.rows.values().next().value;
    const folded = row?.row.closest('details');
    if (folded) {
      folded.open = true; // a field under "More options" is shown before it takes the focus
    }
    const target = row?.control ?? row?.row;
    target?.scrollIntoView({ block: 'center' });
    target?.focus({ preventScroll: true });
  }

  dispose(): void {
    window.clearInterval(this.shownTimer);
    for (const row of this.rows.values()) {
      window.clearTimeout(row.timer);
    }
  }

  /**
   * Tells the kernel the form is on screen: laid out (not in a hidden notebook tab, not scrolled
   * out of the DOM), live (the kernel is there) and in a visible browser tab.
   */
  private sayShown(): void {
    if (this.el.getClientRects().length > 0 && !this.el.inert && document.visibilityState === 'visible') {
      this.send({ action: 'shown' });
    }
  }

  private build(launcher: Launcher): void {
    for (const row of this.rows.values()) {
      window.clearTimeout(row.timer);
    }
    this.rows.clear();
    const container = launcher.locked ? h('dl', { class: 'dcv-fields-locked' }) : h('div', { class: 'dcv-fields-grid' });
    // A locked form lists what it launches in one place; an editable one folds the rare fields.
    const moreGrid = h('div', { class: 'dcv-fields-grid' });
    launcher.fields.forEach((field, index) => {
      const id = `${this.ids}-f${index}`;
      const hint = h('div', { class: 'dcv-field-hint', id: `${id}-hint` });
      const error = h('div', { class: 'dcv-field-error', id: `${id}-error` });
      const warning = h('div', { class: 'dcv-field-warning', id: `${id}-warning` });
      let row: FieldRow;
      if (launcher.locked) {
        const value = h('dd', { class: 'dcv-field-value', id: `${id}-value` });
        const el = h(
          'div',
          { class: 'dcv-field', 'data-name': field.name, 'data-kind': field.kind, 'data-locked': 'true' },
          h('dt', { class: 'dcv-field-label' }, field.label),
          value,
          h('dd', { class: 'dcv-field-messages' }, hint, error, warning),
        );
        row = { field, signature: '', row: el, control: null, value, datalist: null, hint, error, warning };
      } else {
        const control = this.control(field, id);
        const datalist = field.kind === 'text' && field.group ? h('datalist', { id: `${id}-list` }) : null;
        if (datalist) {
          control.setAttribute('list', datalist.id);
        }
        const label = h('label', { class: 'dcv-field-label', for: id }, field.label);
        // A checkbox reads as "☐ Whole node", its label beside it.
        const head = field.kind === 'checkbox' ? h('div', { class: 'dcv-field-check' }, control, label) : null;
        const el = h(
          'div',
          { class: 'dcv-field', 'data-name': field.name, 'data-kind': field.kind },
          head ?? label,
          head ? null : control,
          datalist,
          hint,
          error,
          warning,
        );
        row = { field, signature: '', row: el, control, value: null, datalist, hint, error, warning };
        this.listen(row, control);
      }
      this.rows.set(field.name, row);
      (field.group && !launcher.locked ? moreGrid : container).append(row.row);
    });
    this.moreBody.replaceChildren(moreGrid);
    this.body.replaceChildren(container, this.more);
  }

  private control(field: Field, id: string): HTMLInputElement | HTMLSelectElement {
    if (field.kind === 'select') {
      return h('select', { id, class: 'dcv-field-input', name: field.name });
    }
    if (field.kind === 'checkbox') {
      return h('input', { id, class: 'dcv-field-checkbox', name: field.name, type: 'checkbox' });
    }
    const input = h('input', {
      id,
      class: 'dcv-field-input',
      name: field.name,
      type: field.kind === 'number' ? 'number' : 'text',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    if (field.kind === 'number') {
      input.step = 'any';
    }
    return input;
  }

  private listen(row: FieldRow, control: HTMLInputElement | HTMLSelectElement): void {
    // Keys typed here are the form's, not the notebook's command-mode shortcuts.
    control.addEventListener('keydown', (event) => event.stopPropagation());
    if (row.field.kind === 'text') {
      control.addEventListener('input', () => {
        window.clearTimeout(row.timer);
        row.timer = window.setTimeout(() => this.flush(row), DEBOUNCE_MS);
      });
      control.addEventListener('change', () => this.flush(row));
      control.addEventListener('blur', () => {
        if (!this.flush(row)) {
          this.syncValue(row);
        }
      });
    } else {
      control.addEventListener('change', () => this.flush(row));
      control.addEventListener('blur', () => this.syncValue(row));
    }
  }

  private valueOf(row: FieldRow): FieldValue | undefined {
    const control = row.control;
    if (!control) {
      return undefined;
    }
    if (row.field.kind === 'checkbox' && control instanceof HTMLInputElement) {
      return control.checked;
    }
    if (row.field.kind === 'number' && control instanceof HTMLInputElement) {
      // A number as a number; an empty or unparsable entry goes as its text for the kernel to name.
      const n = control.valueAsNumber;
      return Number.isFinite(n) ? n : control.value;
    }
    return control.value;
  }

  /** Sends the field's value if the kernel does not have it yet; true if it sent. */
  private flush(row: FieldRow): boolean {
    window.clearTimeout(row.timer);
    row.timer = undefined;
    const value = this.valueOf(row);
    if (value === undefined) {
      return false;
    }
    const text = JSON.stringify(value);
    const known = this.sent.get(row.field.name) ?? JSON.stringify(row.field.value);
    if (text === known) {
      return false;
    }
    this.sent.set(row.field.name, text);
    this.send({ action: 'set', field: row.field.name, value });
    return true;
  }

  private launch(): void {
    // Edits still in their debounce go first: the kernel sees them before the launch.
    for (const row of this.rows.values()) {
      if (row.timer !== undefined) {
        this.flush(row);
      }
    }
    this.send({ action: 'launch' });
  }

  private patch(row: FieldRow, field: Field): void {
    const signature = JSON.stringify(field);
    if (signature !== row.signature) {
      this.patchMeta(row, field);
      row.signature = signature;
    }
    row.field = field;
    this.syncValue(row);
  }

  /** Label, hint, error, options: everything but the control's value. */
  private patchMeta(row: FieldRow, field: Field): void {
    const previous = row.field;
    const label = row.row.querySelector('.dcv-field-label');
    if (label && label.textContent !== field.label) {
      label.textContent = field.label;
    }
    row.hint.textContent = field.hint;
    row.hint.hidden = !field.hint;
    row.error.textContent = field.error;
    row.error.hidden = !field.error;
    row.warning.textContent = field.warning;
    row.warning.hidden = !field.warning;
    row.row.hidden = field.hidden;
    row.row.dataset.invalid = String(Boolean(field.error));
    row.row.dataset.warning = String(Boolean(field.warning));
    const described = [field.hint && row.hint.id, field.error && row.error.id, field.warning && row.warning.id]
      .filter(Boolean)
      .join(' ');
    if (row.value) {
      row.value.textContent = displayValue(field);
      setOrRemove(row.value, 'aria-describedby', described);
      return;
    }
    const control = row.control;
    if (!control) {
      return;
    }
    control.setAttribute('aria-invalid', String(Boolean(field.error)));
    if (row.datalist && JSON.stringify(previous.suggestions) !== JSON.stringify(field.suggestions)) {
      row.datalist.replaceChildren(...field.suggestions.map((s) => h('option', { value: s })));
    }
    setOrRemove(control, 'aria-describedby', described);
    if (control instanceof HTMLSelectElement) {
      const value = String(field.value);
      if (
        control.options.length === 0 ||
        JSON.stringify(previous.options) !== JSON.stringify(field.options) ||
        !Array.from(control.options).some((o) => o.value === value)
      ) {
        fillOptions(control, field);
      }
    }
  }

  /** Show the kernel's value, except in the field the person is typing in. */
  private syncValue(row: FieldRow): void {
    const control = row.control;
    if (!control || (document.activeElement === control && !(control instanceof HTMLSelectElement))) {
      return;
    }
    if (control instanceof HTMLInputElement && control.type === 'checkbox') {
      control.checked = row.field.value === true;
      return;
    }
    const value = String(row.field.value);
    if (control.value !== value) {
      control.value = value;
    }
  }

  /**
   * "More options" shows only when one of its fields is; its summary names what they hold
   * (so a preset's reservation is seen folded), and it opens by itself for an error or warning.
   */
  private patchMore(launcher: Launcher): void {
    const fields = launcher.fields.filter((f) => f.group && !f.hidden);
    this.more.hidden = launcher.locked || fields.length === 0;
    this.moreHeld = fields
      .filter((f) => f.value !== '' && f.value !== false)
      .map((f) => `${f.label}: ${f.kind === 'checkbox' ? 'yes' : String(f.value)}`)
      .join(', ');
    if (fields.some((f) => f.error || f.warning)) {
      this.more.open = true;
    }
    this.sayHeld();
  }

  private sayHeld(): void {
    const summary = this.moreHeld && !this.more.open ? `More options (${this.moreHeld})` : 'More options';
    if (this.moreSummary.textContent !== summary) {
      this.moreSummary.textContent = summary;
    }
  }
}

function fillOptions(select: HTMLSelectElement, field: Field): void {
  const value = String(field.value);
  const options = field.options.map((o) =>
    h('option', { value: o.value, disabled: o.disabled ? '' : undefined }, o.label),
  );
  if (!field.options.some((o) => o.value === value)) {
    // The kernel's value is not offered: show it rather than let the browser show the first option.
    options.unshift(h('option', { value, disabled: '', hidden: '' }, value || 'Choose…'));
  }
  select.replaceChildren(...options);
}

function displayValue(field: Field): string {
  if (field.kind === 'checkbox') {
    return field.value === true ? 'yes' : 'no';
  }
  if (field.kind === 'select') {
    const option = field.options.find((o) => o.value === String(field.value));
    if (option) {
      return option.label;
    }
  }
  return String(field.value) || '—';
}

function setOrRemove(el: Element, name: string, value: string): void {
  if (value) {
    el.setAttribute(name, value);
  } else {
    el.removeAttribute(name);
  }
}
