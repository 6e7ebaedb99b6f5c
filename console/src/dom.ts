/**
 * A tiny element builder: every text goes through `textContent` (never `innerHTML`), so event data
 * cannot inject markup into the console.
 */

/** Attributes and properties of {@link h}: `on*` functions become listeners, `false`/`undefined` are skipped. */
export type Attrs = Record<string, string | number | boolean | undefined | null | ((ev: Event) => void)>;
/** A child: a node, text, or nothing. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Create an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Append children (flattened) to a node. */
export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Create an SVG element. */
export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: Array<Node | string>): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/** Replace the content of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A definition list from label/value pairs (absent values are skipped). */
export function fields(rows: Array<[string, Child]>, className = 'fields'): HTMLDListElement {
  const dl = h('dl', { class: className });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '' || value === false) continue;
    dl.append(h('dt', {}, label), h('dd', {}, value));
  }
  return dl;
}

/** Monospace text that can be selected whole (hashes, ids). */
export function code(text: string, title?: string): HTMLElement {
  return h('code', { class: 'mono', title: title ?? undefined }, text);
}

/** First 8 and last 4 characters of a hash, with the whole value as a title. */
export function shortHash(hash: string): HTMLElement {
  return h('code', { class: 'mono', title: hash }, hash.length > 16 ? `${hash.slice(0, 8)}…${hash.slice(-4)}` : hash);
}

/** Human-readable bytes. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A status message region (`role=status` is announced by screen readers). */
export function notice(kind: 'info' | 'error' | 'ok' | 'warn', ...children: Child[]): HTMLElement {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}
