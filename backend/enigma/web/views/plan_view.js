// The plan inside the plan-approval panel: what would be merged where, and what is missing.
//
// Each repository's branches are a table on wide screens and stacked cards on phones (the
// `.stack` rule in styles.css), so a branch name never shrinks to one character per line.

import { badge, extLink, h, stackable } from "../dom.js";

const mono = (text) => h("span", { class: "mono" }, text);

/** What a repository already has of this release: tag, release page, merged pull request. */
function existing(repo) {
  const e = repo.existing || {};
  const pr = e.pull_request;
  const parts = [
    e.release_branch && !e.tag ? ["branch ", mono(e.release_branch)] : null,
    e.tag ? ["tag ", mono(e.tag)] : null,
    e.release ? [extLink(typeof e.release === "string" ? e.release : null, "release page")] : null,
    pr ? [extLink(pr.url, `pull request #${pr.number}`), pr.merged ? " (merged)" : " (open)"] : null,
  ].filter(Boolean);
  if (!parts.length) return null;
  return h("span", { class: "small existing", "data-existing": repo.repo }, "Already there: ", parts.map((p, i) => [i ? ", " : "", p]));
}

/** Waves, what is already released, tickets left out and why, flags: the plan's extras. */
function extras(plan) {
  const waves = (plan.waves || []).filter((w) => w.length);
  const released = plan.already_released || [];
  const left = plan.excluded_tickets || [];
  const flags = plan.flags || [];
  const byName = new Map(plan.repositories.map((r) => [r.repo, r]));
  const out = [
    waves.length > 1 ? h("div", { class: "plan-extra", "data-waves": "" }, h("h3", {}, "Order of release"),
      h("ol", { class: "waves" }, waves.map((w, i) => h("li", { "data-wave": i + 1 }, w.map((r, j) => [j ? ", " : "", mono(r)])))),
      h("p", { class: "help" }, "Each wave's repositories are ready before the next wave starts, and merge first at the end.")) : null,
    released.length ? h("div", { class: "plan-extra", "data-already-released": "" }, h("h3", {}, "Already released"),
      h("ul", { class: "plain" }, released.map((r) => h("li", {}, mono(r), " ", byName.get(r) ? existing(byName.get(r)) : null))),
      h("p", { class: "help" }, "Nothing is done again where it already exists.")) : null,
    left.length ? h("div", { class: "plan-extra", "data-excluded-tickets": "" }, h("h3", {}, "Tickets left out"),
      h("ul", { class: "plain" }, left.map((t) => h("li", {}, h("strong", {}, t.key), ` — ${t.reason || "left out"}`)))) : null,
    flags.length ? h("div", { class: "plan-extra notice", "data-flags": "" }, h("h3", {}, "Flags"),
      h("ul", { class: "plain" }, flags.map((f) => h("li", {}, f)))) : null,
  ].filter(Boolean);
  return out.length ? h("div", { class: "plan-extras" }, out) : null;
}

function branchTable(repo, ticketInfo, canAmend, onTick) {
  const head = ["Branch", "Ticket", "Files", "Prediction"];
  const rows = repo.branches.map((b) => h("tr", { class: b.predicted === "conflict" ? "row-conflict" : "", "data-branch": `${repo.repo}:${b.branch}` },
    canAmend ? h("td", {}, h("label", { class: "tick" },
      h("input", { type: "checkbox", "data-exclude": "branches", value: `${repo.repo}:${b.branch}`, onchange: onTick }),
      h("span", { class: "sr-only" }, `Exclude ${b.branch}`))) : null,
    h("td", { class: "mono" }, b.branch),
    h("td", {}, b.ticket || "—", ticketInfo.get(b.ticket) ? h("div", { class: "muted small" }, ticketInfo.get(b.ticket).summary) : null),
    h("td", { class: "mono small" }, b.files.join(", ") || "—"),
    h("td", {}, badge(b.predicted === "conflict" ? "conflict" : "clean"),
      b.conflicts_with.length ? h("div", { class: "small" }, "with ", h("span", { class: "mono" }, b.conflicts_with.join(", "))) : null)));
  if (!rows.length) return h("p", { class: "muted plan-empty" }, "No branches to merge.");
  return stackable(h("table", { class: "plan-table" },
    h("thead", {}, h("tr", {}, canAmend ? h("th", { scope: "col", class: "narrow-col" }, "Exclude") : null,
      head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
}

/** The plan's repositories, its gaps, and what an earlier amendment already left out. */
export function planTables(plan, tickets, canAmend, onTick) {
  const ticketInfo = new Map((tickets || []).map((t) => [t.key, t]));
  const repos = plan.repositories.map((repo) => h("div", { class: "plan-repo" },
    h("div", { class: "plan-repo-head" },
      h("h3", { class: "mono" }, repo.repo),
      h("span", { class: "muted small" }, `${repo.release_branch} from ${repo.base_ref} → ${repo.target_branch}${repo.merge_method ? ` (${repo.merge_method})` : ""}`),
      (plan.already_released || []).includes(repo.repo) ? null : existing(repo),
      canAmend ? h("label", { class: "check small" }, h("input", { type: "checkbox", "data-exclude": "repositories", value: repo.repo, onchange: onTick }), "Leave this repository out") : null),
    branchTable(repo, ticketInfo, canAmend, onTick)));
  const orphans = h("div", { class: "plan-gaps" },
    h("div", {}, h("h3", {}, "Tickets without a branch"),
      plan.tickets_without_branch.length
        ? h("ul", { class: "plain", id: "tickets-without-branch" }, plan.tickets_without_branch.map((key) => h("li", {},
          canAmend ? h("label", { class: "check small" }, h("input", { type: "checkbox", "data-exclude": "tickets", value: key, onchange: onTick }), h("span", { class: "sr-only" }, `Exclude ${key}`)) : null,
          h("strong", {}, key), " ", h("span", { class: "muted" }, ticketInfo.get(key)?.summary || ""))))
        : h("p", { class: "muted" }, "Every ticket has a branch.")),
    h("div", {}, h("h3", {}, "Branches without a ticket"),
      plan.branches_without_ticket.length
        ? h("ul", { class: "plain mono", id: "branches-without-ticket" }, plan.branches_without_ticket.map((b) => h("li", {}, b)))
        : h("p", { class: "muted" }, "Every branch belongs to a ticket."),
      h("p", { class: "help" }, "These are not merged; add the ticket to the fix version to include them.")));
  const excluded = Object.entries(plan.excluded || {}).filter(([, v]) => v.length);
  return [extras(plan), repos, orphans, excluded.length
    ? h("p", { class: "muted small" }, "Already excluded: ", excluded.map(([k, v]) => `${k} ${v.join(", ")}`).join("; "))
    : null];
}

/** The plan in a line of facts: branches, repositories, tickets, predicted conflicts, gaps. */
export function planSummary(plan) {
  const branches = plan.repositories.reduce((n, r) => n + r.branches.length, 0);
  const n = (count, one, many) => `${count} ${count === 1 ? one : many}`;
  return h("ul", { class: "facts" },
    h("li", {}, `${n(branches, "branch", "branches")} to merge`),
    h("li", {}, n(plan.repositories.length, "repository", "repositories")),
    h("li", {}, n(plan.tickets.length, "ticket", "tickets")),
    h("li", { class: plan.predicted_conflicts.length ? "warn" : "" }, n(plan.predicted_conflicts.length, "predicted conflict", "predicted conflicts")),
    plan.tickets_without_branch.length ? h("li", { class: "warn" }, `${n(plan.tickets_without_branch.length, "ticket", "tickets")} without a branch`) : null,
    plan.branches_without_ticket.length ? h("li", { class: "warn" }, `${n(plan.branches_without_ticket.length, "branch", "branches")} without a ticket`) : null,
    (plan.flags || []).length ? h("li", { class: "warn" }, n(plan.flags.length, "flag", "flags")) : null,
    plan.policy_hash ? h("li", { class: "muted", "data-policy-hash": plan.policy_hash, title: "The release policy this plan was made under" }, "policy ", mono(plan.policy_hash)) : null);
}

/** The branches the plan predicted `branch` in `repo` would conflict with (may be empty). */
export function predictedConflicts(plan, repo, branch) {
  const found = (plan?.predicted_conflicts || []).find((c) => c.repo === repo && c.branch === branch);
  return found?.conflicts_with || [];
}
