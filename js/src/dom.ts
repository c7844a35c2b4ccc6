/** Small DOM helpers: elements are built once and patched, never set through innerHTML. */

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined) {
        continue;
      }
      if (name === 'class') {
        el.className = value;
      } else {
        el.setAttribute(name, value);
      }
    }
  }
  append(el, ...children);
  return el;
}

/** Appends the children that are not null, undefined or false. */
export function append(el: Element, ...children: Child[]): void {
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child);
    }
  }
}

export function button(
  label: string,
  className: string,
  onClick: (event: MouseEvent) => void,
  attrs: Record<string, string | undefined> = {},
): HTMLButtonElement {
  const el = h('button', { type: 'button', class: `jupyter-button ${className}`, ...attrs }, label);
  el.addEventListener('click', onClick);
  return el;
}

let counter = 0;

/** A document-unique id prefix, one per view, so ids of two views of one model never clash. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}
