// A very small DOM helper: h(tag, props, ...children) builds an element.
// Props named on* add event listeners, `class` sets className, boolean DOM
// properties (checked, disabled, open) are set as properties, everything
// else becomes an attribute. Children may be nodes, strings, arrays or
// null/false (skipped). Text is always inserted as text, never as HTML.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (typeof v === "boolean" && k in el) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

let counter = 0;
/** uid returns a document-unique id; resource names never go into ids. */
export const uid = (prefix) => `${prefix}-${++counter}`;

/** visually hidden text, read by screen readers */
export const srOnly = (text) => h("span", { class: "sr-only" }, text);

/** replace all children of el */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** formatTime shows an RFC 3339 time in the reader's locale, with the raw value in a <time>. */
export function formatTime(t) {
  if (!t) return "";
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return h("time", { datetime: d.toISOString() }, d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }));
}
