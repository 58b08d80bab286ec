// Turn untrusted HTML (release notes from the wiki) into safe DOM nodes.
//
// The HTML is parsed by DOMParser into an inert document (no scripts run, nothing loads), then
// copied node by node into fresh elements: only allow-listed tags survive, only `href` on links
// (http and https alone) is kept, and every text is a text node. Unknown tags are unwrapped so
// their text stays readable; dangerous ones are dropped with their content.

const KEEP = new Set([
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "code", "pre", "strong", "em",
  "b", "i", "u", "s", "br", "hr", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
  "blockquote", "span", "div", "small", "sub", "sup", "dl", "dt", "dd",
]);
const DROP = new Set([
  "script", "style", "iframe", "frame", "frameset", "object", "embed", "template", "noscript",
  "svg", "math", "form", "input", "button", "textarea", "select", "option", "link", "meta",
  "base", "img", "picture", "video", "audio", "source", "track", "canvas", "applet", "title",
  "head",
]);
const MAX_DEPTH = 64;

function safeHref(value) {
  try {
    const url = new URL(value, "http://invalid.invalid/");
    if ((url.protocol === "http:" || url.protocol === "https:") && url.host !== "invalid.invalid") {
      return url.href;
    }
  } catch {
    // not a URL
  }
  return null;
}

function copy(node, target, depth) {
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      target.append(document.createTextNode(child.nodeValue));
      continue;
    }
    if (child.nodeType !== Node.ELEMENT_NODE || depth > MAX_DEPTH) continue;
    const tag = child.localName;
    if (DROP.has(tag) || child.namespaceURI !== "http://www.w3.org/1999/xhtml") continue;
    if (!KEEP.has(tag)) {
      copy(child, target, depth + 1);
      continue;
    }
    const el = document.createElement(tag);
    if (tag === "a") {
      const href = safeHref(child.getAttribute("href") || "");
      if (href) {
        el.setAttribute("href", href);
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
    if ((tag === "td" || tag === "th") && /^\d{1,2}$/.test(child.getAttribute("colspan") || "")) {
      el.setAttribute("colspan", child.getAttribute("colspan"));
    }
    copy(child, el, depth + 1);
    target.append(el);
  }
}

/** A DocumentFragment with the safe part of `html`. */
export function sanitize(html) {
  const parsed = new DOMParser().parseFromString(String(html ?? ""), "text/html");
  const fragment = document.createDocumentFragment();
  copy(parsed.body, fragment, 0);
  return fragment;
}
