/**
 * The preset chooser above the launcher's fields: the site's presets, the user's own, then
 * Custom, as toggle buttons; Save as preset… (a name) and Delete for the user's own. It sends
 * `preset`, `save_preset` and `delete_preset`; what a preset holds, and every check, is the
 * kernel's (or the Jupyter server's).
 */

import { button, h, uniqueId } from './dom';
import { PresetOption, Presets, ViewMessage } from './types';

export class PresetChooser {
  readonly el: HTMLElement;
  private readonly chips: HTMLElement;
  private readonly tools: HTMLElement;
  private readonly note: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly saveForm: HTMLElement;
  private readonly nameInput: HTMLInputElement;
  private readonly ids = uniqueId('dcv-presets');
  private signature = '';
  private presets: Presets | null = null;

  constructor(private readonly send: (msg: ViewMessage) => void) {
    const label = h('span', { class: 'dcv-presets-label', id: `${this.ids}-label` }, 'Preset');
    this.chips = h('div', { class: 'dcv-preset-chips', role: 'group', 'aria-labelledby': `${this.ids}-label` });
    this.nameInput = h('input', {
      class: 'dcv-field-input dcv-preset-name',
      type: 'text',
      maxlength: '40',
      autocomplete: 'off',
      'aria-label': 'Name of the new preset',
      placeholder: 'Name',
    });
    this.nameInput.addEventListener('keydown', (event) => {
      event.stopPropagation(); // the form's keys, not the notebook's shortcuts
      if (event.key === 'Enter') {
        this.save();
      } else if (event.key === 'Escape') {
        this.closeSave();
      }
    });
    this.saveForm = h(
      'span',
      { class: 'dcv-preset-save-form', hidden: '' },
      this.nameInput,
      button('Save', 'mod-primary dcv-preset-save-confirm', () => this.save(), { 'data-action': 'save-preset-confirm' }),
      button('Cancel', 'dcv-preset-save-cancel', () => this.closeSave(), { 'data-action': 'save-preset-cancel' }),
    );
    this.tools = h('div', { class: 'dcv-preset-tools' });
    this.note = h('p', { class: 'dcv-preset-note', 'aria-live': 'polite' });
    this.problem = h('p', { class: 'dcv-preset-problem', role: 'alert' });
    this.el = h('div', { class: 'dcv-presets' }, h('div', { class: 'dcv-presets-row' }, label, this.chips), this.tools, this.note, this.problem);
  }

  update(presets: Presets | null): void {
    this.presets = presets;
    this.el.hidden = presets === null;
    if (presets === null) {
      return;
    }
    const signature = JSON.stringify(presets);
    if (signature === this.signature) {
      return;
    }
    this.signature = signature;
    const chips = presets.options.map((option) => this.chip(option, presets.chosen === option.name));
    chips.push(
      this.chip({ name: '', description: 'edit every field', summary: '', mine: false, locked: false }, presets.chosen === ''),
    );
    this.chips.replaceChildren(...chips);
    const mine = presets.options.find((o) => o.mine && o.name === presets.chosen);
    const saveButton = button('Save as preset…', 'dcv-preset-save', () => this.openSave(), { 'data-action': 'save-preset' });
    saveButton.hidden = !this.saveForm.hidden;
    this.tools.replaceChildren(saveButton, this.saveForm);
    if (mine) {
      this.tools.append(
        button(`Delete “${mine.name}”`, 'dcv-preset-delete', () => this.send({ action: 'delete_preset', name: mine.name }), {
          'data-action': 'delete-preset',
          title: 'Delete this preset of yours',
        }),
      );
    }
    this.note.textContent = presets.note;
    this.note.hidden = !presets.note;
    this.note.dataset.refused = String(presets.note.startsWith('Not saved'));
    this.problem.textContent = presets.message;
    this.problem.hidden = !presets.message;
    if (presets.note.startsWith('Saved')) {
      this.closeSave();
    }
  }

  private chip(option: PresetOption, chosen: boolean): HTMLElement {
    const name = option.name || 'Custom';
    const el = button(
      '',
      'dcv-preset-chip',
      () => {
        if (!chosen) {
          this.send({ action: 'preset', name: option.name });
        }
      },
      {
        'aria-pressed': String(chosen),
        'data-preset': option.name,
        'data-mine': String(option.mine),
        title: [option.summary, option.locked ? 'its values are fixed' : '', option.mine ? 'your own preset' : '']
          .filter(Boolean)
          .join(' · '),
      },
    );
    el.replaceChildren(
      h('span', { class: 'dcv-preset-chip-name' }, name, option.locked ? h('span', { class: 'dcv-preset-chip-locked' }, 'locked') : null),
    );
    if (option.description) {
      el.append(h('span', { class: 'dcv-preset-chip-desc' }, option.description));
    }
    return el;
  }

  private openSave(): void {
    this.saveForm.hidden = false;
    this.signature = ''; // the tools row is drawn again, Save as preset… hidden
    this.update(this.presets);
    this.nameInput.focus();
  }

  private closeSave(): void {
    if (this.saveForm.hidden) {
      return;
    }
    this.saveForm.hidden = true;
    this.nameInput.value = '';
    this.signature = '';
    this.update(this.presets);
  }

  private save(): void {
    const name = this.nameInput.value.trim();
    if (name) {
      this.send({ action: 'save_preset', name });
    } else {
      this.nameInput.focus();
    }
  }
}
