// Who may answer a pending decision, as the API and the run's policy decide it.
//
// The API lets anyone with the "decide" role reach a decision route ("amend" for amending);
// the decision's `payload.approval` then says which roles the release policy lets answer it
// (amending excepted: it sends the plan back, no answer), how many different people must
// approve, and whether the starter may approve (four-eyes). A payload without `approval`
// (an older server) is read as the old fixed rule: approvals need an approver.

import { may } from "../api.js";

// Runs whose starter the server refused as approver (403, four-eyes) although neither the
// payload nor GET /api/config said so: the page is right from then on.
const fourEyesRuns = new Set();

const OLD_ROLES = { plan_approval: ["approver", "admin"], release_approval: ["approver", "admin"] };

/** The decision's approval rule, with the old defaults filled in. */
export function ruleOf(p) {
  const rule = p.payload?.approval || {};
  return {
    roles: Array.isArray(rule.roles) && rule.roles.length ? rule.roles : OLD_ROLES[p.kind] || [],
    approvers: Number(rule.approvers) > 1 ? Number(rule.approvers) : 1,
    fourEyes: typeof rule.four_eyes === "boolean" ? rule.four_eyes : null,
    approvedBy: Array.isArray(p.payload?.approved_by) ? p.payload.approved_by : [],
  };
}

/** "approver or admin" for a list of role names. */
export function roleWords(roles) {
  const words = roles.map((r) => r.replaceAll("_", " "));
  return words.length > 1 ? `${words.slice(0, -1).join(", ")} or ${words.at(-1)}` : words[0] || "nobody";
}

/** Whether someone with `roles` may use `action` on the pending decision `p`. */
export function mayAnswer(p, roles, action) {
  if (!may(roles, action)) return false;
  if (action === "amend") return true;
  const allowed = ruleOf(p).roles;
  return !allowed.length || allowed.some((r) => (roles || []).includes(r));
}

/** Remember that the server refused this run's starter as approver (four-eyes). */
export function learnFourEyes(runId) {
  fourEyesRuns.add(runId);
}

/** Whether the four-eyes rule keeps this reader from approving decision `p` of `run`. */
export function fourEyesBlocks(run, config, p = null) {
  if (run.actor !== config.user) return false;
  const rule = p ? ruleOf(p).fourEyes : null;
  if (rule !== null) return rule || fourEyesRuns.has(run.id);
  return config.four_eyes === true || fourEyesRuns.has(run.id);
}

/** Whether the reader already gave one of several approvals this decision needs. */
export function alreadyApproved(p, config) {
  return ruleOf(p).approvedBy.includes(config.user);
}

/** "1 of 2 approvals (alice)" when a decision needs several approvers, else null. */
export function approvalCount(p) {
  const { approvers, approvedBy } = ruleOf(p);
  if (approvers < 2) return null;
  const who = approvedBy.length ? ` (${approvedBy.join(", ")})` : "";
  return `${approvedBy.length} of ${approvers} approvals${who}`;
}
