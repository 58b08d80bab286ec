// The pending decision on top of the run page: plan, conflict, release or error.
//
// The panel says first whether the reader may decide (four-eyes, missing approver role,
// viewer), then what happened, then one button per choice they may use, each explained by
// the same words as its label (wording.js).

import { api } from "../api.js";
import { badge, extLink, h } from "../dom.js";
import { ACTIONS, PENDING, REPO_ERROR } from "../wording.js";
import { deadlineLines } from "./deadline.js";
import { alreadyApproved, approvalCount, fourEyesBlocks, learnFourEyes, mayAnswer, roleWords, ruleOf } from "./decision_rules.js";
import { planSummary, planTables, predictedConflicts } from "./plan_view.js";
import { releaseBody } from "./release_view.js";

export { sortPending } from "../wording.js";
export { fourEyesBlocks } from "./decision_rules.js";

// The decision whose panel is rebuilt because of a four-eyes refusal: the reader is taken
// back to its top, where the refusal is now explained, rather than left at the buttons below.
let refocus = null;
/** What this page's last answer to each decision said: kept so a re-render (the answer's
 * own events re-draw the run) does not wipe it while the decision is still pending. */
const sent = new Map();

function conflictBody(p, state) {
  const d = p.payload;
  // The payload names what the branch collided with; older servers do not, and then the
  // plan's prediction for this branch is the best we know (and is said to be a prediction).
  const actual = Array.isArray(d.conflicts_with) && d.conflicts_with.length ? d.conflicts_with : null;
  const withs = actual || predictedConflicts(state.plan, d.repo, d.branch);
  const planned = (state.plan?.repositories || []).find((r) => r.repo === d.repo)?.release_branch;
  const live = (state.release_branches || {})[d.repo];
  const name = live?.name || d.release_branch || planned;
  const target = name ? h("span", { class: "mono", "data-release-branch": live ? "exists" : "planned" }, name) : "the release branch";
  const merged = Object.values((state.merge_status || {})[d.repo] || {}).filter((m) => m.outcome === "merged");
  return {
    title: `Merge conflict in ${d.repo}`,
    intro: [
      h("p", {}, h("span", { class: "mono" }, d.branch), d.ticket ? ` (${d.ticket})` : "", " does not merge cleanly into ", target, "."),
      withs.length || d.compare_url ? h("p", { "data-conflicts-with": withs.join(" ") },
        withs.length ? [actual ? "It conflicts with " : "The plan predicted a conflict with ", h("span", { class: "mono" }, withs.join(", ")), ". "] : null,
        d.compare_url ? extLink(d.compare_url, "Compare the branches", { "data-compare": "" }) : null) : null,
      h("p", {}, "Conflicting files: ", h("span", { class: "mono" }, (d.files || []).join(", ") || "unknown")),
      merged.length ? h("div", { class: "merged-so-far", "data-merged-so-far": "" },
        h("p", {}, `Already merged into ${name || "the release branch"}${live?.base_ref ? ` (from ${live.base_ref})` : ""}:`),
        h("ul", { class: "plain" }, merged.map((m) => h("li", { "data-merged": m.branch },
          h("span", { class: "mono" }, m.branch), m.ticket ? ` (${m.ticket})` : "", " ", badge("merged"))))) : null,
    ],
  };
}

// Whether retrying can help: the payload says so (`retry_helps`); older ones only `transient`.
const retryHelps = (p) => (typeof p.payload.retry_helps === "boolean" ? p.payload.retry_helps : Boolean(p.payload.error?.transient));

// A finalize error names its operation by key ("version:2.3.1"); the words are in the state
// once finalize has recorded it, else at the head of the message ("release the ENG version
// 2.3.1 failed: …").
const operationOf = (p, state) => {
  const err = p.payload.error || {};
  if (!err.operation) return null;
  return state.finalized?.operations?.[err.operation]?.op || /^(.+?) failed: /.exec(err.message || "")?.[1] || err.operation;
};

function errorBody(p, run, state) {
  const err = p.payload.error || {};
  const helps = retryHelps(p);
  const operation = operationOf(p, state);
  const where = err.repo ? ` in ${err.repo}` : "";
  const tried = err.attempt ? `tried ${err.attempt} time${err.attempt === 1 ? "" : "s"}` : null;
  return {
    title: err.kind === "ChecksFailed" ? `Checks failed${where}` : `Step failed: ${(err.step || "unknown").replaceAll("_", " ")}${where}`,
    intro: [
      h("p", { class: "error-text" }, err.message || run.error || "The step failed."),
      h("p", { class: "muted small" }, [err.kind || "Error", tried].filter(Boolean).join(" · ")),
      operation ? h("p", { "data-operation": err.operation }, h("strong", {}, "Operation: "), operation) : null,
      helps
        ? h("p", { "data-transient": "true" }, "This looks temporary (a timeout, a rate limit or a service briefly down): retrying is likely to work.")
        : h("p", { class: "notice", "data-transient": "false" }, h("strong", {}, "Retrying will not fix this. "),
          `${err.kind || "This error"} is not a temporary failure: fix its cause first, or skip or abort.`),
    ],
  };
}

function body(p, run, state) {
  if (p.kind === "plan_approval") return { title: PENDING.plan_approval.title, intro: [planSummary(p.payload.plan)] };
  if (p.kind === "release_approval") return releaseBody(p, run);
  if (p.kind === "conflict") return conflictBody(p, state);
  return errorBody(p, run, state);
}

/** The choices this decision offers, in the order and style its situation calls for. */
function offered(p, state) {
  const list = (ACTIONS[p.kind] || []).filter((a) => p.choices.includes(a.choice));
  const err = p.kind === "error" ? p.payload.error || {} : null;
  const helps = err ? retryHelps(p) : false;
  const out = list.map((a) => {
    let style = { approve: "primary", skip: "primary", retry: "primary", reject: "danger", abort: "danger", amend: "" }[a.action];
    let does = a.does;
    let label = a.label;
    if (err?.repo && REPO_ERROR[a.action]) does = REPO_ERROR[a.action](err.repo);
    // At finalize, skipping an operation means someone did it by hand: the comment says how.
    if (err?.operation && a.action === "skip") [label, does] = ["Done by hand", `record “${operationOf(p, state)}” as done by hand (the comment is kept as its note); finalize goes on.`];
    if (err && a.action === "skip" && helps) style = "";
    if (err && a.action === "retry" && !helps) [style, does] = ["", "run the step again, once its cause is fixed."];
    return { ...a, label, style, does };
  });
  // A permanent error: the choices that help come first, Retry last.
  if (err && !helps) out.sort((a, b) => Number(a.action === "retry") - Number(b.action === "retry"));
  return out;
}

function whoCannot(ctx) {
  const roles = ctx.config.roles.map((r) => r.replaceAll("_", " ")).join(", ") || "no role";
  return `${ctx.config.user} (${roles})`;
}

/** The sentence on top of the panel when the reader cannot (fully) decide, or null. */
function standing(p, run, ctx, choices, mine) {
  const approval = p.kind.endsWith("approval");
  const allowed = roleWords(ruleOf(p).roles);
  if (approval && mine.some((a) => a.action === "approve") && alreadyApproved(p, ctx.config)) {
    return h("p", { class: "notice", id: `fe-${p.interrupt_id}`, "data-approved-already": "" },
      h("strong", {}, "You approved this; it needs another approver."), " Someone else with the role ", allowed, " must approve too.");
  }
  if (approval && mine.some((a) => a.action === "approve") && fourEyesBlocks(run, ctx.config, p)) {
    return h("p", { class: "notice", id: `fe-${p.interrupt_id}`, "data-four-eyes": "" },
      h("strong", {}, "You started this run; someone else must approve it (four-eyes)."),
      mine.length > 1 ? " You can still use the other choices below." : "");
  }
  if (!mine.length) {
    const waitingFor = approval ? "Waiting for an approver." : "Waiting for someone allowed to decide.";
    return h("p", { class: "notice", "data-no-actions": "" }, h("strong", {}, waitingFor),
      ` The release policy lets ${allowed} answer this; ${whoCannot(ctx)} can follow the run but not act.`);
  }
  const barred = choices.filter((a) => !mine.includes(a));
  if (!barred.length) return null;
  const rest = mine.map((a) => a.label.toLowerCase()).join(" or ");
  if (approval) {
    return h("p", { class: "notice", "data-waiting-approver": "" }, h("strong", {}, "Waiting for an approver."),
      ` The release policy lets ${allowed} approve or reject this; ${whoCannot(ctx)} can ${rest}.`);
  }
  return h("p", { class: "help", "data-barred": "" }, `${barred.map((a) => `“${a.label}”`).join(" and ")}: the release policy lets ${allowed} answer this; ${whoCannot(ctx)} can ${rest}.`);
}

/** One pending decision as a panel with the controls the reader may use. */
export function decisionPanel(p, run, state, ctx, onDecided) {
  const choices = offered(p, state);
  const mine = choices.filter((a) => mayAnswer(p, ctx.config.roles, a.action));
  const canAmend = mine.some((a) => a.action === "amend");
  const id = p.interrupt_id;
  const panel = h("section", { class: `card decision decision-${p.kind}`, "data-decision": p.kind, "data-interrupt": id, "aria-labelledby": `d-${id}` });
  const { title, intro } = body(p, run, state);
  const blocked = standing(p, run, ctx, choices, mine);
  panel.append(h("header", { class: "card-head" },
    h("h2", { id: `d-${id}`, tabindex: -1 }, h("span", { class: "decision-icon", "aria-hidden": "true" }, p.kind === "error" ? "!" : p.kind === "conflict" ? "⚠" : "?"), h("span", { class: "decision-title" }, title)),
    badge(p.kind === "error" || p.kind === "conflict" ? "failed" : "waiting", "", "decision needed")),
    blocked || "",
    approvalCount(p) ? h("p", { class: "approval-count", "data-approvals": "" }, approvalCount(p)) : "",
    h("p", { class: "muted small waited", "data-waiting": id }),
    deadlineLines(p) || "");
  panel.append(h("div", { class: "decision-body" }, intro));
  if (refocus === id) {
    refocus = null;
    setTimeout(() => panel.querySelector("h2")?.focus(), 0);
  }
  const countExcluded = () => panel.querySelectorAll("input[data-exclude]:checked").length;
  const onTick = () => {
    const amend = panel.querySelector('button[data-action="amend"]');
    if (!amend) return;
    const n = countExcluded();
    amend.disabled = n === 0;
    amend.textContent = n ? `Amend plan (leave out ${n})` : "Amend plan";
  };
  if (p.kind === "plan_approval") {
    panel.append(h("div", { class: "decision-body" }, planTables(p.payload.plan, state.jira_tickets, canAmend, onTick)));
  }
  if (!mine.length) return panel;
  panel.append(h("ul", { class: "what-to-do" }, mine.map((a) => h("li", {}, h("strong", {}, a.label), ` — ${a.does}`))));
  if (canAmend) panel.append(h("p", { class: "help", id: `amend-help-${id}` }, "To amend, tick what to leave out, then choose “Amend plan”: Enigma plans again without it and asks again."));
  panel.append(decideRow(p, run, mine, panel, countExcluded, onDecided, blocked?.id || null));
  return panel;
}

function decideRow(p, run, mine, panel, countExcluded, onDecided, fourEyesNote) {
  const id = p.interrupt_id;
  const comment = h("textarea", { id: `c-${id}`, rows: 2, maxlength: 2000, placeholder: "Why? (kept with the decision)" });
  const status = h("p", { class: sent.has(id) ? "form-note" : "form-error", role: "alert" }, sent.get(id) || "");
  const row = h("div", { class: "actions" });
  const locked = (action) => (action === "amend" && countExcluded() === 0) || (action === "approve" && fourEyesNote !== null);
  for (const a of mine) {
    const btn = h("button", {
      type: "button", class: `btn ${a.style}`.trim(), "data-action": a.action, disabled: locked(a.action),
      "aria-describedby": a.action === "amend" ? `amend-help-${id}` : a.action === "approve" && fourEyesNote ? fourEyesNote : null,
    }, a.label);
    btn.addEventListener("click", async () => {
      const bodyJson = { comment: comment.value.trim(), interrupt_id: id };
      if (a.action === "amend") {
        const exclude = { tickets: [], branches: [], repositories: [] };
        for (const box of panel.querySelectorAll("input[data-exclude]:checked")) exclude[box.dataset.exclude].push(box.value);
        bodyJson.exclude = exclude;
      }
      for (const b of row.querySelectorAll("button")) b.disabled = true;
      status.className = "form-note";
      status.textContent = "Sending…";
      try {
        const after = await api(`/api/runs/${encodeURIComponent(run.id)}/${a.action}`, { method: "POST", body: bodyJson });
        const waitsOn = a.action === "approve" && (after.pending || []).some((x) => x.interrupt_id === id);
        status.textContent = waitsOn ? "Your approval is recorded; the run waits for another approver." : `${a.label}: sent. The run continues.`;
        sent.set(id, status.textContent);
        onDecided();
      } catch (exc) {
        sent.delete(id);
        status.className = "form-error";
        status.textContent = exc.message;
        if (exc.status === 403 && /four-eyes/i.test(exc.message)) {
          learnFourEyes(run.id);
          refocus = id;
          onDecided();
        }
        for (const b of row.querySelectorAll("button")) b.disabled = locked(b.dataset.action);
      }
    });
    row.append(btn);
  }
  return h("div", { class: "decide" },
    h("div", { class: "field" }, h("label", { for: `c-${id}` }, "Comment (optional)"), comment), row, status);
}
