// Building DOM safely: every text goes through textContent, never innerHTML.

/** Create an element: h("a", {href, class: "x", onclick}, "text", child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (strings become text nodes; arrays are flattened; null is skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A coloured pill for a run, step or outcome status; `text` overrides the status's words. */
export function badge(status, extra = "", text = null) {
  const words = text || String(status || "unknown").replaceAll("_", " ");
  return h("span", { class: `badge badge-${status || "unknown"} ${extra}`.trim(), "data-status": status }, words);
}

/** "3 min ago" style age of a unix timestamp (seconds). */
export function age(seconds, now = Date.now() / 1000) {
  const d = Math.max(0, now - seconds);
  if (d < 45) return "just now";
  if (d < 90) return "1 min ago";
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 5400) return "1 hour ago";
  if (d < 86400) return `${Math.round(d / 3600)} hours ago`;
  return `${Math.round(d / 86400)} days ago`;
}

/** "1h 02m 05s" for a span of seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (hh) return `${hh}h ${pad(mm)}m ${pad(ss)}s`;
  if (mm) return `${mm}m ${pad(ss)}s`;
  return `${ss}s`;
}

/** Local date and time of a unix timestamp (seconds). */
export function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

/** Local time of day of a unix timestamp (seconds). */
export function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

/** Local hour and minute ("14:05") of a unix timestamp (seconds). */
export function hhmm(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

/** "in 3 min" style time until a unix timestamp (seconds); "now" once it has come. */
export function until(seconds, now = Date.now() / 1000) {
  const d = seconds - now;
  if (d < 1) return "now";
  if (d < 60) return `in ${Math.ceil(d)} s`;
  if (d < 3570) return `in ${Math.round(d / 60)} min`;
  const hours = Math.round(d / 3600);
  if (d < 129600) return `in ${hours} hour${hours === 1 ? "" : "s"}`;
  return `in ${Math.round(d / 86400)} days`;
}

/** Only http(s) URLs become links; anything else (javascript:, data:) is shown as text. */
export function safeUrl(url) {
  try {
    const parsed = new URL(String(url), window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** An external link that opens in a new tab, or plain text when the URL is not http(s). */
export function extLink(url, text, attrs = {}) {
  const href = safeUrl(url);
  if (!href) return h("span", {}, text);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", ...attrs }, text);
}

/** Human names for step ids: "merge_feature_branches" -> "merge feature branches". */
export function stepName(id) {
  return String(id).replace(/^.*:/, "").replaceAll("_", " ");
}

/** A section with a heading; `actions` go to the heading's right. */
export function section(title, body, { id, actions = null, cls = "" } = {}) {
  return h(
    "section",
    { class: `card ${cls}`.trim(), id, "aria-labelledby": id ? `${id}-h` : null },
    h("header", { class: "card-head" }, h("h2", { id: id ? `${id}-h` : null }, title), actions),
    body,
  );
}

/** A small "nothing here" paragraph. */
export function empty(text) {
  return h("p", { class: "muted empty" }, text);
}

/**
 * Let a table become stacked cards on narrow screens (styles.css, `.stack`): each cell is
 * given its column's name, shown before the value when the header row is hidden.
 */
export function stackable(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => {
      if (names[i] && !cell.hasAttribute("colspan")) cell.dataset.label = names[i];
    });
  }
  table.classList.add("stack");
  return table;
}
