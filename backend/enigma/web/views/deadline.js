// A pending decision's deadline: when people are reminded, when it expires and what follows.
//
// The times are the decision's own (`payload.remind_at`, `payload.expire_at`, stamped by the
// server when it asked, epoch seconds; `payload.approval.on_expire` says what follows). The
// panel holds empty lines that the run page's one-second clock fills (`tickDeadlines`), so
// "in 3 min" stays true without rebuilding the panel and losing a comment being typed.

import { h, hhmm, replace, until } from "../dom.js";
import { ON_EXPIRE } from "../wording.js";

// Under a minute to go: the expiry is shown in the warning colour.
const SOON = 60;

/** The deadline lines of a pending decision, or null when its policy sets none. */
export function deadlineLines(p) {
  const d = p.payload || {};
  if (!d.remind_at && !d.expire_at) return null;
  const then = ON_EXPIRE[d.approval?.on_expire] || "";
  return h("ul", { class: "deadline plain small", "data-deadline": p.interrupt_id },
    d.remind_at ? h("li", { "data-remind-at": d.remind_at, "data-asked-at": d.requested_at || 0, "data-for": p.interrupt_id }) : null,
    d.expire_at ? h("li", { "data-expire-at": d.expire_at, "data-then": then }) : null);
}

const rel = (at, now) => h("span", { class: "deadline-in" }, ` · ${until(at, now)}`);

/** Fill every deadline line under `root` as of `now`; `facts.reminded` says what was sent. */
export function tickDeadlines(root, facts, now = Date.now() / 1000) {
  for (const li of root.querySelectorAll("[data-remind-at]")) {
    const at = Number(li.dataset.remindAt);
    const sent = facts.reminded.get(li.dataset.for);
    if (sent != null && sent >= Number(li.dataset.askedAt)) replace(li, `Reminded at ${hhmm(sent)}`);
    else replace(li, `Reminder at ${hhmm(at)}`, rel(at, now));
  }
  for (const li of root.querySelectorAll("[data-expire-at]")) {
    const at = Number(li.dataset.expireAt);
    const then = li.dataset.then ? ` (${li.dataset.then})` : "";
    li.classList.toggle("soon", at - now < SOON);
    replace(li, h("strong", {}, `Expires at ${hhmm(at)}`), then, rel(at, now));
  }
}
