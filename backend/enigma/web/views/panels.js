// Sections of the run page: repositories, tickets, release notes, decisions so far, steps, log.

import { badge, clock, duration, empty, extLink, h, stackable, stepName } from "../dom.js";
import { sanitize } from "../sanitize.js";
import { isFinished, waits } from "./run_facts.js";

const LEG = ["create_release_branch", "merge_feature_branches", "decide_conflict", "open_pull_request", "wait_for_checks", "handle_repo_error"];
const short = (sha) => (sha ? String(sha).slice(0, 8) : null);

function legSteps(repo, steps, now) {
  const mine = steps.filter((s) => s.repo === repo);
  return h("ol", { class: "leg" }, LEG.map((name) => mine.find((s) => s.step === name)).filter(Boolean).map((s) =>
    h("li", { class: `leg-step g-${s.status}`, "data-step": s.step, "data-status": s.status, title: s.summary || s.error || s.status, "aria-current": s.step === now ? "step" : null },
      stepName(s.step), s.attempts > 1 ? h("span", { class: "attempts" }, ` ×${s.attempts}`) : null)));
}

// A repository left out of the release (skipped or failed): what merged into its release
// branch does not ship.
const LEFT = new Set(["skipped", "failed", "aborted"]);

function merges(repo, state, pending) {
  const dropped = LEFT.has((state.repo_outcomes || {})[repo]);
  const done = (state.merge_status || {})[repo] || {};
  const planned = (state.plan?.repositories || []).find((r) => r.repo === repo)?.branches || [];
  const names = [...new Set([...planned.map((b) => b.branch), ...Object.keys(done)])];
  if (!names.length) return empty("No branches to merge.");
  return stackable(h("table", { class: "merges" },
    h("thead", {}, h("tr", {}, ["Branch", "Ticket", "Merge", "Commit"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, names.map((name) => {
      const rec = done[name];
      const plan = planned.find((b) => b.branch === name);
      const stuck = pending.some((p) => p.kind === "conflict" && p.payload.repo === repo && p.payload.branch === name);
      let outcome = rec?.outcome || (stuck ? "conflict" : plan?.predicted === "conflict" ? "conflict predicted" : "pending");
      if (dropped && outcome === "merged") outcome = "not_shipped";
      const bad = outcome === "conflict" || outcome === "skipped" || outcome === "conflict predicted" || outcome === "not_shipped";
      return h("tr", { class: bad ? "row-conflict" : "", "data-merge": name, "data-outcome": outcome },
        h("td", { class: "mono" }, name),
        h("td", {}, rec?.ticket || plan?.ticket || ""),
        h("td", {}, badge(outcome.replace(" ", "_")), bad && rec?.files?.length ? h("div", { class: "small mono" }, rec.files.join(", ")) : null),
        h("td", { class: "mono small" }, short(rec?.sha)));
    }))));
}

const RED = new Set(["failure", "timed_out", "cancelled", "action_required", "startup_failure", "error"]);

function checkList(checks) {
  if (!checks.length) return h("span", { class: "muted" }, "—");
  const red = checks.filter((c) => RED.has(c.conclusion || c.state));
  return [
    red.length ? h("div", { class: "red-checks", "data-red-checks": "" }, h("strong", {}, "CI failed: "),
      red.map((c, i) => [i ? ", " : "", extLink(c.url, c.name, { "data-red-check": c.name })])) : null,
    checks.filter((c) => !red.includes(c)).map((c) => h("span", { class: "check-item" }, extLink(c.url, c.name), " ", badge(c.conclusion || c.status))),
  ];
}

function leftOutNote(repo, state, outcome) {
  if (!LEFT.has(outcome)) return null;
  const why = (state.skipped || []).find((s) => s.repo === repo && !s.branch);
  return h("p", { class: "notice small", "data-repo-left-out": "" }, h("strong", {}, "Left out of this release"), why?.reason ? `: ${why.reason}` : ".",
    why?.by ? h("span", { class: "muted" }, ` (${why.by})`) : null);
}

/** One card per repository: release branch, merges, pull request, checks, tag. */
export function repositories(run, state, steps) {
  const fin = state.finalized || {};
  const legs = isFinished(run) ? {} : state.legs || {};
  return h("div", { class: "repo-grid" }, run.repositories.map((repo) => {
    const branch = (state.release_branches || {})[repo];
    const planned = (state.plan?.repositories || []).find((r) => r.repo === repo);
    const pr = (state.pull_requests || {})[repo];
    const checks = (state.checks || {})[repo] || [];
    const outcome = (state.repo_outcomes || {})[repo];
    const merged = (fin.pull_requests_merged || {})[repo];
    const tag = (fin.releases || {})[repo];
    const now = legs[repo];
    return h("article", { class: "repo", "data-repo": repo, "data-leg": now || null }, h("div", { class: "repo-facts" },
      h("header", { class: "repo-head" }, h("h3", { class: "mono" }, repo), outcome ? badge(outcome) : null,
        now ? h("span", { class: "leg-now small", "data-leg-now": now }, "now: ", stepName(now)) : null),
      leftOutNote(repo, state, outcome),
      legSteps(repo, steps, now),
      h("dl", { class: "kv" },
        h("dt", {}, "Release branch"),
        h("dd", { class: "mono" }, branch ? `${branch.name} from ${branch.base_ref} @ ${short(branch.base_sha) || "?"}` : planned ? h("span", { class: "muted" }, `${planned.release_branch} (not created yet)`) : "—"),
        h("dt", {}, "Pull request"),
        h("dd", {}, pr ? [extLink(pr.html_url, `#${pr.number} ${pr.head} → ${pr.base}`, { "data-pr": repo }), merged ? badge("merged") : null] : h("span", { class: "muted" }, "not opened yet")),
        h("dt", {}, "Checks"),
        h("dd", {}, checkList(checks)),
        tag ? [h("dt", {}, "Release"), h("dd", {}, extLink(tag, `v${run.fix_version}`))] : null)),
      h("div", { class: "repo-merges" }, merges(repo, state, run.pending || [])));
  }));
}

/** The fix version's tickets and what became of each. */
export function tickets(state, run) {
  const list = state.jira_tickets || [];
  if (!list.length) return empty("Tickets appear once they are fetched from Jira.");
  const where = new Map();
  for (const repo of state.plan?.repositories || []) {
    for (const b of repo.branches) where.set(b.ticket, { repo: repo.repo, branch: b.branch });
  }
  const noBranch = new Set(state.plan?.tickets_without_branch || []);
  const excluded = new Set([...(state.plan?.excluded?.tickets || []), ...(state.plan?.excluded_tickets || []).map((t) => t.key)]);
  const done = new Set([...(state.finalized?.tickets || []), ...(run.detail?.tickets_done || [])]);
  const unshipped = new Set(run.detail?.not_shipped || []);
  const over = isFinished(run);
  const fate = (key) => {
    if (done.has(key)) return "released";
    if (excluded.has(key)) return "excluded";
    if (noBranch.has(key)) return "no_branch";
    const at = where.get(key);
    if (!at) return unshipped.has(key) ? "not_shipped" : "not_planned";
    const merged = ((state.merge_status || {})[at.repo] || {})[at.branch]?.outcome || "planned";
    // Merged into a release branch is not shipped: not when its repository was left out,
    // nor once the run ended without releasing it.
    if (merged === "merged" && (LEFT.has((state.repo_outcomes || {})[at.repo]) || over || unshipped.has(key))) return "not_shipped";
    return merged;
  };
  return h("div", { class: "table-wrap" }, stackable(h("table", { class: "tickets" },
    h("thead", {}, h("tr", {}, ["Ticket", "Summary", "Type", "Jira status", "Branch", "In this release"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((t) => {
      const at = where.get(t.key);
      const f = fate(t.key);
      return h("tr", { "data-ticket": t.key, "data-fate": f, class: ["conflict", "skipped", "no_branch", "not_shipped"].includes(f) ? "row-warn" : "" },
        h("td", { class: "nowrap" }, extLink(t.url, t.key)),
        h("td", {}, t.summary),
        h("td", {}, t.type),
        h("td", {}, t.status),
        h("td", { class: "mono small" }, at ? `${at.repo}: ${at.branch}` : "—"),
        h("td", {}, badge(f)));
    })))));
}

/** The release notes page, its HTML sanitized before it reaches the page. */
export function releaseNotes(state) {
  const notes = state.release_notes;
  if (!notes) return empty("Release notes are written after the repositories are ready.");
  return h("div", {},
    h("p", { class: "notes-meta" }, extLink(notes.url, notes.title, { "data-notes-link": "" }), h("span", { class: "muted small" }, ` · version ${notes.version} · ${(notes.tickets || []).length} tickets`)),
    notes.body ? h("div", { class: "notes-body", id: "notes-body" }, sanitize(notes.body)) : empty("The page body is not available."));
}

// The server's name for its deadline watch (runs/deadlines.py): not a person.
const DEADLINE = "deadline";
const kindName = (kind) => String(kind).replace(/_decision$/, "").replaceAll("_", " ");

// A decision nobody made in time: the deadline rejected it, or paused the run.
function expiredItem(kind, action, at, waited) {
  return h("li", { "data-approval": kind, "data-expired": action },
    badge("expired"), " ", h("strong", {}, kindName(kind)), " expired: nobody decided in time, so the ",
    h("strong", {}, DEADLINE), action === "pause" ? " paused the run" : " rejected it",
    h("span", { class: "muted small" }, ` · ${clock(at)}`),
    waited == null ? null : h("span", { class: "muted small", "data-waited": "" }, ` · after ${duration(waited)}`));
}

/** Who decided what, oldest first, how long each waited for them, and who cancelled. */
export function approvals(state, facts, run) {
  const list = state.approvals || [];
  const waited = waits(list, facts);
  // A rejected or refused run is "cancelled" too, as a lifecycle: only a cancel is a cancel.
  const d = run.outcome === "cancelled" ? run.detail || {} : {};
  const cancel = run.outcome && run.outcome !== "cancelled" ? null
    : facts.cancelled || (d.by ? { actor: d.by, at: d.at } : null);
  const dated = list.map((a, i) => {
    const at = Date.parse(a.at) / 1000;
    if (a.actor === DEADLINE) return { at, el: expiredItem(a.kind, a.action === "reject" ? "reject" : a.action, at, waited[i]) };
    return { at, el: h("li", { "data-approval": a.kind },
      h("strong", {}, a.actor), ` chose ${a.action} (${kindName(a.kind)})`,
      h("span", { class: "muted small" }, ` · ${clock(at)}`),
      waited[i] == null ? null : h("span", { class: "muted small", "data-waited": "" }, ` · waited ${duration(waited[i])} for a decision`),
      a.comment ? h("div", { class: "quote" }, a.comment) : null) };
  });
  // A pause leaves no answer in the state: the event log says which decisions it ended.
  for (const x of facts.expired.filter((e) => e.action === "pause")) {
    const asked = facts.asked.get(x.interrupt_id);
    dated.push({ at: x.at, el: expiredItem(x.kind, "pause", x.at, asked == null ? null : Math.max(0, x.at - asked)) });
  }
  const items = dated.sort((a, b) => (a.at || 0) - (b.at || 0)).map((x) => x.el);
  if (cancel) {
    items.push(h("li", { "data-cancelled": "" }, h("strong", {}, cancel.actor || "someone"), " cancelled the run",
      h("span", { class: "muted small" }, ` · ${clock(cancel.at)}`)));
  }
  if (!items.length) return empty("No decisions yet.");
  return h("ol", { class: "timeline" }, items);
}

/** Every step (per repository) as a table: the text twin of the graph. */
export function stepsTable(steps) {
  if (!steps.length) return empty("No step has started yet.");
  return stackable(h("table", { class: "steps" },
    h("thead", {}, h("tr", {}, ["Step", "Repository", "Status", "Attempts", "Time", "Result"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, steps.map((s) => h("tr", { "data-step": s.step, "data-repo": s.repo || "" },
      h("td", {}, stepName(s.step)), h("td", { class: "mono small" }, s.repo || "—"), h("td", {}, badge(s.status)),
      h("td", { class: "num" }, s.attempts), h("td", { class: "num small" }, s.duration_ms == null ? "" : `${(s.duration_ms / 1000).toFixed(1)} s`),
      h("td", { class: s.error ? "error-text small" : "small" }, s.error || s.summary || ""))))));
}

function describe(type, e) {
  const d = e.data || {};
  if (type === "run.created") return `${e.actor || "someone"} started the run`;
  if (type === "run.status") return `${String(d.from).replaceAll("_", " ")} → ${String(d.to).replaceAll("_", " ")}${d.reason ? ` (${d.reason})` : ""}`;
  if (type === "run.finished") return `finished: ${d.outcome}${d.reason ? ` — ${d.reason}` : ""}`;
  if (type === "decision.requested") return `waiting for ${String(d.kind).replaceAll("_", " ")}: ${(d.choices || []).join(" / ")}`;
  if (type === "decision.made") {
    const count = d.partial ? ` (${(d.approvers || []).length} of ${d.required} approvals)` : "";
    return `${e.actor} chose ${d.action}${count}${d.comment ? ` — “${d.comment}”` : ""}`;
  }
  if (type === "decision.reminder") return `reminded people of the ${kindName(d.kind)}`;
  if (type === "decision.expired") return `${kindName(d.kind)} expired: nobody decided in time; ${d.action === "pause" ? "the run pauses" : "it is rejected"}`;
  if (type === "run.blocked") return `waiting: ${d.cause || e.cause || "a dependency is unavailable"}`;
  if (type === "run.unblocked") return "no longer waiting for a dependency";
  if (type.startsWith("step.")) {
    const what = `${stepName(e.step || "")}${e.repo ? ` [${e.repo}]` : ""}`;
    if (type === "step.started") return `${what} started${d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}`;
    if (type === "step.failed") return `${what} failed: ${d.error || ""}`;
    if (type === "step.waiting") return `${what} waits for ${(d.waiting_for || []).join(", ").replaceAll("_", " ")}`;
    return `${what}: ${d.summary || "done"}`;
  }
  return `${e.actor ? `${e.actor}: ` : ""}${JSON.stringify(d).slice(0, 160)}`;
}

/** A log entry for one streamed event. */
export function logEntry(type, e) {
  const ended = type === "run.finished" ? e.data?.outcome : null;
  const level = type === "step.failed" || ended === "failed" || ended === "refused" ? "bad"
    : type === "run.blocked" ? "ask" : ended === "succeeded" || ended === "partial" ? "ok"
    : type.startsWith("decision.") || type === "step.waiting" ? "ask" : type === "step.finished" ? "ok" : "";
  return h("li", { class: `log-${level}`, "data-event": type, "data-id": e.id },
    h("time", { class: "mono small muted" }, e.at ? clock(e.at) : ""),
    h("span", { class: "log-type small" }, type),
    h("span", { class: "log-text" }, describe(type, e)));
}
