// What the event streams say about the service itself and about runs held up by an outage.
//
// While Enigma cannot read its run store, a stream sends `service.degraded` (no id: it is not
// in the log) and later `service.recovered`; the page shows a banner in between. Notices of a
// run waiting for a dependency come as `run.blocked` / `run.unblocked`, stored (`data.cause`)
// or, while the store is down, as a notice (`cause`, `run_id`): both shapes are read here.

import { h, replace } from "../dom.js";

/** Runs the streams said are blocked (run id -> cause), for when the store cannot say. */
export const blockedRuns = new Map();

function box() {
  return document.getElementById("service");
}

/** Show or clear the degraded-service banner. */
export function showDegraded(cause) {
  const el = box();
  if (!el) return;
  if (!cause) {
    replace(el);
    return;
  }
  replace(el, h("div", { class: "service-banner", "data-banner": "degraded" },
    h("strong", {}, "Enigma is degraded: "), h("span", { id: "degraded-cause" }, cause),
    h("span", {}, ". Runs wait and go on by themselves when it recovers; what you see may be behind.")));
}

/**
 * Fold a streamed event into the service's state; true when it was about the service or a
 * blocked run (the caller then renders again).
 */
export function noteService(type, e) {
  if (type === "service.degraded") {
    showDegraded(e.cause || e.data?.cause || "the run store is unavailable");
    return true;
  }
  if (type === "service.recovered") {
    showDegraded(null);
    return true;
  }
  if (type === "run.blocked" || type === "run.unblocked") {
    const runId = e.run_id;
    const cause = e.data?.cause ?? e.cause ?? null;
    if (runId) {
      if (type === "run.blocked" && cause) blockedRuns.set(runId, cause);
      else blockedRuns.delete(runId);
    }
    return true;
  }
  return false;
}

/** Why `run` waits for a dependency now: what the streams said last, else the record. */
export function blockedCause(run) {
  if (blockedRuns.has(run.id)) return blockedRuns.get(run.id);
  return run.blocked || null;
}

/** A reconnected stream starts afresh: a store still down says so again at once. */
export function streamReconnected() {
  showDegraded(null);
}
