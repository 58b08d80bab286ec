// The run page's head: its controls, where the run is now, and the banner that says how it
// stands (paused, failed and resumable) or how it ended (views/outcome.js).

import { may } from "../api.js";
import { h, stepName } from "../dom.js";
import { pendingWhere } from "../wording.js";
import { outcomeCard } from "./outcome.js";
import { isFinished } from "./run_facts.js";

/** The run's controls the reader may use: pause, resume, cancel. */
export function controls(run, ctx, act, pausing) {
  const roles = ctx.config.roles;
  const out = [];
  if (may(roles, "pause") && (run.status === "running" || run.status === "queued")) {
    out.push(h("button", { type: "button", class: "btn", "data-action": "pause", disabled: pausing, onclick: () => act("pause") }, pausing ? "Pausing…" : "Pause"));
  }
  if (may(roles, "resume") && (run.status === "paused" || (run.status === "failed" && !isFinished(run)))) {
    out.push(h("button", { type: "button", class: "btn primary", "data-action": "resume", onclick: () => act("resume") }, "Resume"));
  }
  if (may(roles, "cancel") && !isFinished(run)) {
    out.push(h("button", { type: "button", class: "btn danger-outline", "data-action": "cancel", onclick: () => {
      if (window.confirm(`Cancel the release ${run.fix_version} run? In-flight work is abandoned and the run cannot continue.`)) act("cancel");
    } }, "Cancel run"));
  }
  return out;
}

/**
 * Where the run is: the decisions it waits on, else each repository's leg still at work
 * ("web-app at wait for checks"). The run's `current_step` is only the step that reported
 * last, so it is used only when no leg is under way; while a decision waits, the legs'
 * steps are on their repositories' cards, not in the head.
 */
export function whereNow(run, state, pending) {
  if (isFinished(run)) return null;
  if (pending.length) return h("span", { id: "run-waiting" }, h("strong", {}, "waiting on "), pending.map(pendingWhere).join("; "));
  const working = Object.entries(state.legs || {}).map(([repo, step]) => `${repo} at ${stepName(step)}`);
  if (working.length) return h("span", { id: "run-at" }, working.join(", "));
  return run.current_step && run.status !== "failed" ? h("span", { id: "run-at" }, `at ${stepName(run.current_step)}`) : null;
}

// The deadline watch's name (runs/deadlines.py) as the actor of a pause.
const DEADLINE = "deadline";

// "No decision on the plan approval within 4s." from the pause's reason.
function why(reason) {
  const text = String(reason || "").replace(/; resume to ask again\.?$/, "").replaceAll("_", " ").trim();
  return text ? `${text[0].toUpperCase()}${text.slice(1)}.` : "Nobody decided in time.";
}

// A run the deadline paused: it says so, and Resume asks the same question again.
function deadlinePause(paused, ctx, act) {
  return h("section", { class: "card banner banner-warn", "data-banner": "paused", "data-paused-by": DEADLINE, "aria-labelledby": "paused-h" },
    h("h2", { id: "paused-h" }, "Paused by the deadline: nobody decided in time"),
    h("p", { id: "paused-why" }, why(paused.reason)),
    h("p", {}, h("strong", {}, "Resume"), " asks again, with a fresh deadline; ", h("strong", {}, "Cancel run"), " ends it."),
    may(ctx.config.roles, "resume")
      ? h("div", { class: "actions" }, h("button", { type: "button", class: "btn primary", "data-action": "resume", onclick: () => act("resume") }, "Resume and ask again"))
      : null);
}

/**
 * The banner under the head: how the run ended, or what to do with a paused or failed run.
 * `paused` is the pause's event ({actor, reason}) when the page has seen it.
 */
export function banner(run, paused = null, ctx = null, act = null) {
  if (run.outcome) return outcomeCard(run);
  if (run.status === "failed" && !run.pending.length) {
    return h("section", { class: "card banner banner-bad", role: "alert", "data-banner": "failed" },
      h("h2", {}, "The run failed"),
      h("p", { class: "error-text" }, run.error || "A step failed."),
      h("p", {}, h("strong", {}, "What to do: "), "fix the cause, then ", h("strong", {}, "Resume"), " to continue from the last checkpoint, or ", h("strong", {}, "Cancel run"), " to end it."));
  }
  if (run.status === "paused" && paused?.actor === DEADLINE && ctx) return deadlinePause(paused, ctx, act);
  if (run.status === "paused") {
    return h("section", { class: "card banner", "data-banner": "paused" }, h("p", {}, "The run is paused at a step boundary. ", h("strong", {}, "Resume"), " continues where it stopped."));
  }
  return null;
}
