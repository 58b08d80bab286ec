// The run page's notifications: what was sent about this run, on which channel, and whether
// it arrived (GET /api/notifications?run_id=…).
//
// The list is fetched again when an event that notifies arrives on the run's stream (the
// outbox row is written with its event, so it exists by then), and on a timer while any row
// is still pending: delivery happens after the event, in the service's sender.

import { api } from "../api.js";
import { badge, clock, empty, h, replace, stackable, when } from "../dom.js";
import { notifiedWhat } from "../wording.js";
import { OUTCOME } from "./outcome.js";

const LIMIT = 100;
// Fetched again this long after a notifying event: the stream's replay comes in a burst.
const SETTLE_MS = 300;
// While a row is pending: look again when its next try is due, within these bounds.
const MIN_WAIT_S = 2;
const MAX_WAIT_S = 15;

const kindWords = (kind) => String(kind || "decision").replaceAll("_", " ");
const times = (n) => `${n} time${n === 1 ? "" : "s"}`;

/** Whether a streamed event may have caused a notification (runs/notifying.py). */
export function notifies(type, e) {
  return type.startsWith("decision.") || type === "run.finished" || (type === "run.status" && e.data?.to === "failed");
}

// A few words after the "what", from the event the notification carries.
function detail(n, ev) {
  if (!ev) return null;
  if (n.type === "decision.made" && ev.action) return `${ev.actor || "someone"} chose ${ev.action}`;
  if (n.type === "decision.reminder") return kindWords(ev.kind);
  if (n.type === "decision.expired") return `${kindWords(ev.kind)}, ${ev.action === "pause" ? "run paused" : "rejected"}`;
  if (n.type === "run.finished" && ev.outcome) return OUTCOME[ev.outcome] || ev.outcome;
  return null;
}

function delivery(n) {
  if (n.status === "delivered") {
    const tries = n.attempts > 1 ? `, after ${n.attempts} tries` : "";
    return [badge("delivered"), ` at ${clock(n.delivered_at)}${tries}`];
  }
  const error = n.last_error ? h("div", { class: "error-text small notify-error" }, n.last_error) : null;
  if (n.status === "undeliverable") return [badge("undeliverable"), ` after ${times(n.attempts)}`, error];
  const at = n.next_at ? `; next try at ${clock(n.next_at)}` : "";
  const next = n.attempts ? ` tried ${times(n.attempts)}${at}` : " sending…";
  return [badge("pending"), next, error];
}

/** The list, or the one line that says why there is none. */
export function notificationList(answer, facts) {
  if (!answer.channels?.length) {
    return h("p", { class: "muted", "data-no-channels": "" }, "No notification channels are configured; see the README.");
  }
  if (!answer.items.length) return empty("Nothing has been sent about this run yet.");
  return h("div", { class: "table-wrap" }, stackable(h("table", { class: "notifications" },
    h("thead", {}, h("tr", {}, ["When", "Channel", "What", "Delivery"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, answer.items.map((n) => {
      const ev = facts.told.get(n.event_id);
      const more = detail(n, ev);
      return h("tr", { "data-notification": n.type, "data-status": n.status, "data-channel": n.channel, class: n.status === "undeliverable" ? "row-warn" : "" },
        h("td", { class: "nowrap" }, h("time", { title: when(n.created_at) }, clock(n.created_at))),
        h("td", { class: "mono small" }, n.channel),
        h("td", {}, notifiedWhat(n.type, ev?.kind), more ? h("span", { class: "muted small" }, ` · ${more}`) : null),
        h("td", { class: "notify-delivery" }, delivery(n)));
    })))));
}

function summary(items) {
  const counts = new Map();
  for (const n of items) counts.set(n.status, (counts.get(n.status) || 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(" · ");
}

/**
 * Keep `slot` showing this run's notifications; `count` gets a short summary.
 * Returns {onEvent(type, e), destroy()}.
 */
export function notificationFeed(slot, count, runId, facts) {
  let answer = null;
  let shown = null;
  let timer = null;
  let inflight = false;
  let again = false;
  let stopped = false;

  function render() {
    const key = JSON.stringify([answer, answer.items.map((n) => facts.told.get(n.event_id) || null)]);
    if (key === shown) return;
    shown = key;
    replace(slot, notificationList(answer, facts));
    count.textContent = answer.channels?.length ? summary(answer.items) : "";
  }

  function later(ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(load, ms);
  }

  async function load() {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      answer = await api(`/api/notifications?run_id=${encodeURIComponent(runId)}&limit=${LIMIT}`);
      if (stopped) return;
      render();
    } catch (exc) {
      if (!answer && !stopped) replace(slot, h("p", { class: "muted", "data-notify-error": "" }, `Notifications are not available: ${exc.message}`));
    } finally {
      inflight = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      later(SETTLE_MS);
      return;
    }
    const due = (answer?.items || []).filter((n) => n.status === "pending").map((n) => n.next_at || 0);
    if (due.length) {
      const wait = Math.min(Math.max(Math.min(...due) - Date.now() / 1000 + 1, MIN_WAIT_S), MAX_WAIT_S);
      later(wait * 1000);
    }
  }

  slot.append(h("p", { class: "muted" }, "Loading…"));
  load();
  return {
    onEvent(type, e) {
      if (notifies(type, e)) later(SETTLE_MS);
    },
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
