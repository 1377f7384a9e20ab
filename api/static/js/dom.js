// Small DOM helpers and formatters shared by the views (no framework: a page is rebuilt from data).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "html") el.innerHTML = v;
    else if (k in el && typeof v !== "string" && el.namespaceURI !== SVG_NS) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h("div", {class: "x"}, child, "text", [more]) */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

export function s(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/**
 * Make `target` look like `source` while keeping every node that can stay: same-tag elements are
 * kept and their attributes and children brought in line; only a node of another kind is
 * replaced. A live page re-renders from data every few seconds, and a button or link rebuilt
 * between a user's mouse-down and mouse-up swallows the click; morphing keeps the node under the
 * pointer (and focus, and an input's checked state) in place. Event listeners are not copied: a
 * re-render must attach the same behaviour it did the first time. Canvases are always replaced.
 */
export function morph(target, source) {
  if (target.nodeType !== source.nodeType || target.nodeName !== source.nodeName || target instanceof HTMLCanvasElement) {
    target.replaceWith(source);
    return source;
  }
  if (target.nodeType !== Node.ELEMENT_NODE) {
    if (target.nodeValue !== source.nodeValue) target.nodeValue = source.nodeValue;
    return target;
  }
  for (const { name } of [...target.attributes]) if (!source.hasAttribute(name)) target.removeAttribute(name);
  for (const { name, value } of [...source.attributes]) if (target.getAttribute(name) !== value) target.setAttribute(name, value);
  if ("disabled" in source && target.disabled !== source.disabled) target.disabled = source.disabled;
  morphChildren(target, [...source.childNodes]);
  return target;
}

/** morph() for a parent's children: `children` (nodes) become the parent's content. */
export function morphChildren(parent, children) {
  const current = [...parent.childNodes];
  children.forEach((node, i) => {
    if (current[i]) morph(current[i], node);
    else parent.append(node);
  });
  for (const extra of current.slice(children.length)) extra.remove();
}

export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return Number(x.toFixed(digits)).toString();
}

/** Accuracy stored as a fraction (0..1) or a percentage: shown as a percentage. */
export function fmtAcc(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const pct = x <= 1.0000001 ? x * 100 : x;
  return `${pct.toFixed(2)}%`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hr = Math.floor(m / 60);
  return `${hr}h ${String(m % 60).padStart(2, "0")}m`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameDay ? time : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

/** Always date and time ("Nov 29, 19:03:48"): list rows compare across days. */
export function fmtDateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const date = d.toLocaleDateString([], { year: d.getFullYear() === new Date().getFullYear() ? undefined : "numeric", month: "short", day: "numeric" });
  return `${date}, ${d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })}`;
}

export function fmtTimeTitle(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** A transient notice in the corner (role=status, so screen readers announce it). */
export function toast(message, kind = "info") {
  let host = document.getElementById("toasts");
  if (!host) {
    host = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(host);
  }
  const el = h("div", { class: `toast toast-${kind}` }, message);
  host.append(el);
  setTimeout(() => el.remove(), 5000);
}

export function errorText(err) {
  if (!err) return "";
  if (err.problem) {
    const p = err.problem;
    const parts = [p.title, p.detail].filter(Boolean);
    return parts.length ? parts.join(": ") : `HTTP ${err.status}`;
  }
  return err.message || String(err);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
