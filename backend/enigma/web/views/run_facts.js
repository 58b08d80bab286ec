// What a run's event log tells that the run record does not: who cancelled it and when,
// whether a pause is on its way, how long each decision waited for a human, which decisions
// were reminded of or expired at their deadline, who paused the run and why, and what each
// event that notifies people was about (the notifications list names it by event id).
//
// The run page's stream replays the whole log on connect, so folding every event in here
// gives the same facts on a fresh page as on one that watched them happen.

const FINISHED = new Set(["succeeded", "cancelled"]);

/** An empty set of facts. */
export function newFacts() {
  return {
    cancelled: null, pausing: false, asked: new Map(), answered: [],
    reminded: new Map(), expired: [], paused: null, told: new Map(),
  };
}

// The events a notification can come from (runs/notifying.py), remembered by id.
const TELLS = new Set(["decision.requested", "decision.reminder", "decision.made", "decision.expired", "run.finished", "run.status"]);

/** Fold one streamed event into `facts`; true when it changed something the page shows. */
export function note(facts, type, e) {
  const d = e.data || {};
  if (TELLS.has(type) && e.id != null) {
    facts.told.set(Number(e.id), { type, kind: d.kind, action: d.action, outcome: d.outcome, actor: e.actor || null });
  }
  if (type === "run.pause_requested") {
    facts.pausing = true;
    return true;
  }
  if (type === "run.status") {
    // Any change of status ends "pausing": the pause arrived, or something overtook it.
    facts.pausing = false;
    if (d.to === "cancelled") facts.cancelled = { actor: e.actor || null, at: e.at };
    facts.paused = d.to === "paused" ? { actor: e.actor || null, reason: d.reason || "", at: e.at } : null;
    return true;
  }
  if (type === "decision.reminder" && d.interrupt_id) {
    facts.reminded.set(d.interrupt_id, e.at);
    return true;
  }
  if (type === "decision.expired") {
    facts.expired.push({ kind: d.kind, interrupt_id: d.interrupt_id, action: d.action || "reject", actor: e.actor || null, at: e.at });
    return true;
  }
  if (type === "run.finished" && d.outcome === "cancelled" && !facts.cancelled) {
    const by = /^cancelled by (.+)$/.exec(d.reason || "");
    facts.cancelled = { actor: e.actor || by?.[1] || null, at: e.at };
    return true;
  }
  if (type === "decision.requested" && d.interrupt_id) {
    facts.asked.set(d.interrupt_id, e.at);
    return true;
  }
  if (type === "decision.made") {
    facts.answered.push({ ...d, actor: e.actor, at: e.at, asked: facts.asked.get(d.interrupt_id) ?? null });
    return true;
  }
  return false;
}

/** Whether the run is over for good (a failed run without an outcome can still resume). */
export function isFinished(run) {
  return FINISHED.has(run.status) || (run.status === "failed" && run.outcome != null);
}

/**
 * Steps as the page should colour them: once a run is over, a step that was still running or
 * waiting will never finish, so it shows as "stopped" rather than amber or blue.
 */
export function settle(steps, run) {
  if (!isFinished(run)) return steps;
  return steps.map((s) => (s.status === "running" || s.status === "waiting" ? { ...s, status: "stopped" } : s));
}

// The state's approval kinds are the pending kinds, except that errors are "error_decision".
const sameKind = (approvalKind, eventKind) => approvalKind === eventKind || approvalKind === `${eventKind}_decision`;

/**
 * Each recorded approval paired with how long it waited for a human (seconds), or null for a
 * decision no human was asked for (policy, auto-approval) or whose request is not in view.
 */
export function waits(approvals, facts) {
  const used = new Set();
  return approvals.map((a) => {
    const i = facts.answered.findIndex((m, j) => !used.has(j) && m.actor === a.actor && m.action === a.action && sameKind(a.kind, m.kind));
    if (i < 0) return null;
    used.add(i);
    const m = facts.answered[i];
    return m.asked == null ? null : Math.max(0, m.at - m.asked);
  });
}
