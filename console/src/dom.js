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

let reasons = null;
const owners = new WeakMap(); // reason span -> the element it explains

/** notAllowed is the reason shown on an action the key's policy does not allow on this app or environment. */
export const notAllowed = (operation, where) => `Your key may not amplifybackend:${operation} on this ${where}.`;

/**
 * allowIf marks an action the signed-in key may not take: aria-disabled
 * (it stays focusable, so keyboard and pointer users alike can learn why),
 * the reason as its title (on hover) and, for screen readers, as its
 * description. A click on it does nothing but tell why (see
 * refuseDisabledClicks). allowIf(el, true) undoes that.
 */
export function allowIf(el, allowed, reason) {
  const old = el.dataset.reasonId && document.getElementById(el.dataset.reasonId);
  if (allowed) {
    if (el.getAttribute("aria-disabled") !== "true") return;
    el.removeAttribute("aria-disabled");
    el.removeAttribute("title");
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== el.dataset.reasonId);
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
    else el.removeAttribute("aria-describedby");
    old?.remove();
    delete el.dataset.reasonId;
    return;
  }
  if (!reasons) {
    reasons = h("div", { class: "sr-only", id: "reasons" });
    document.body.append(reasons);
  }
  let why = old;
  if (!why) {
    why = h("span", { id: uid("why") });
    owners.set(why, el);
    reasons.append(why);
    el.dataset.reasonId = why.id;
    el.setAttribute("aria-describedby", [el.getAttribute("aria-describedby"), why.id].filter(Boolean).join(" "));
  }
  why.textContent = reason;
  el.setAttribute("aria-disabled", "true");
  el.setAttribute("title", reason);
}

/** clearReasons drops the reasons of a screen that is gone. */
export const clearReasons = () => reasons?.replaceChildren();

/**
 * pruneReasons drops the reasons of elements no longer on the page (rows
 * drawn anew by a poll); call it once the new ones are in place.
 */
export function pruneReasons() {
  for (const why of [...(reasons?.children || [])]) {
    if (!owners.get(why)?.isConnected) why.remove();
  }
}

/**
 * refuseDisabledClicks stops a click on an action allowIf refused (and so
 * the implicit submit of its form) before any handler of the page sees it,
 * and dispatches a bubbling "refused" event on it instead, its reason in
 * detail, for a screen that shows the reason where the result would be.
 * The console's entry point calls it once: this module touches no document
 * when imported, so node can load the modules that use it (unit tests).
 */
export function refuseDisabledClicks(doc = document) {
  doc.addEventListener(
    "click",
    (e) => {
      const el = e.target instanceof Element ? e.target.closest('[aria-disabled="true"]') : null;
      if (!el) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      el.dispatchEvent(new CustomEvent("refused", { bubbles: true, detail: { reason: el.getAttribute("title") || "" } }));
    },
    true,
  );
}
