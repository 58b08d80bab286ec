// The pending decision on top of the run page: plan, conflict, release or error.

import { api, may } from "../api.js";
import { badge, extLink, h } from "../dom.js";

const ORDER = { error: 0, conflict: 1, plan_approval: 2, release_approval: 3 };

/** Pending decisions, the most urgent (errors) first. */
export function sortPending(pending) {
  return [...pending].sort((a, b) => (ORDER[a.kind] ?? 9) - (ORDER[b.kind] ?? 9));
}

function planTables(plan, tickets, canAmend, onTick) {
  const ticketInfo = new Map((tickets || []).map((t) => [t.key, t]));
  const tick = (kind, value, text) => canAmend
    ? h("label", { class: "tick" }, h("input", { type: "checkbox", "data-exclude": kind, value, onchange: onTick }), h("span", { class: "sr-only" }, `Exclude ${text}`))
    : null;
  const repos = plan.repositories.map((repo) => h("div", { class: "plan-repo" },
    h("div", { class: "plan-repo-head" },
      h("h4", { class: "mono" }, repo.repo),
      h("span", { class: "muted small" }, `${repo.release_branch} from ${repo.base_ref} → ${repo.target_branch}`),
      canAmend ? h("label", { class: "check small" }, h("input", { type: "checkbox", "data-exclude": "repositories", value: repo.repo, onchange: onTick }), "Leave this repository out") : null),
    h("table", { class: "plan-table" },
      h("thead", {}, h("tr", {}, canAmend ? h("th", { scope: "col", class: "narrow-col" }, "Exclude") : null,
        ["Branch", "Ticket", "Files", "Prediction"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, repo.branches.length ? repo.branches.map((b) => h("tr", { class: b.predicted === "conflict" ? "row-conflict" : "", "data-branch": `${repo.repo}:${b.branch}` },
        canAmend ? h("td", {}, tick("branches", `${repo.repo}:${b.branch}`, b.branch)) : null,
        h("td", { class: "mono" }, b.branch),
        h("td", {}, b.ticket, ticketInfo.get(b.ticket) ? h("div", { class: "muted small" }, ticketInfo.get(b.ticket).summary) : null),
        h("td", { class: "mono small" }, b.files.join(", ")),
        h("td", {}, badge(b.predicted === "conflict" ? "conflict" : "clean"),
          b.conflicts_with.length ? h("div", { class: "small" }, "with ", h("span", { class: "mono" }, b.conflicts_with.join(", "))) : null)))
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No branches to merge."))))));
  const orphans = h("div", { class: "plan-gaps" },
    h("div", {}, h("h4", {}, "Tickets without a branch"),
      plan.tickets_without_branch.length
        ? h("ul", { class: "plain", id: "tickets-without-branch" }, plan.tickets_without_branch.map((key) => h("li", {},
          canAmend ? h("label", { class: "check small" }, h("input", { type: "checkbox", "data-exclude": "tickets", value: key, onchange: onTick }), h("span", { class: "sr-only" }, `Exclude ${key}`)) : null,
          h("strong", {}, key), " ", h("span", { class: "muted" }, ticketInfo.get(key)?.summary || ""))))
        : h("p", { class: "muted" }, "Every ticket has a branch.")),
    h("div", {}, h("h4", {}, "Branches without a ticket"),
      plan.branches_without_ticket.length
        ? h("ul", { class: "plain mono", id: "branches-without-ticket" }, plan.branches_without_ticket.map((b) => h("li", {}, b)))
        : h("p", { class: "muted" }, "Every branch belongs to a ticket."),
      h("p", { class: "help" }, "These are not merged; add the ticket to the fix version to include them.")));
  const excluded = Object.entries(plan.excluded || {}).filter(([, v]) => v.length);
  return [repos, orphans, excluded.length
    ? h("p", { class: "muted small" }, "Already excluded: ", excluded.map(([k, v]) => `${k} ${v.join(", ")}`).join("; "))
    : null];
}

function planSummary(plan) {
  const branches = plan.repositories.reduce((n, r) => n + r.branches.length, 0);
  const items = [
    `${branches} branch${branches === 1 ? "" : "es"} to merge`,
    `${plan.repositories.length} repositor${plan.repositories.length === 1 ? "y" : "ies"}`,
    `${plan.tickets.length} tickets`,
  ];
  return h("ul", { class: "facts" }, items.map((t) => h("li", {}, t)),
    h("li", { class: plan.predicted_conflicts.length ? "warn" : "" }, `${plan.predicted_conflicts.length} predicted conflict${plan.predicted_conflicts.length === 1 ? "" : "s"}`),
    plan.tickets_without_branch.length ? h("li", { class: "warn" }, `${plan.tickets_without_branch.length} ticket(s) without branch`) : null,
    plan.branches_without_ticket.length ? h("li", { class: "warn" }, `${plan.branches_without_ticket.length} branch(es) without ticket`) : null);
}

function body(p, run, state) {
  const d = p.payload;
  if (p.kind === "plan_approval") return { title: "Approve the release plan", intro: [planSummary(d.plan)] };
  if (p.kind === "release_approval") {
    return {
      title: "Approve the release",
      intro: [
        h("p", {}, `Approving merges the pull requests below into their target branches, tags v${run.fix_version} and marks the tickets done.`),
        h("ul", { class: "plain" }, Object.entries(d.pull_requests || {}).map(([repo, pr]) => h("li", {},
          h("span", { class: "mono" }, repo), " — ", extLink(pr.html_url, `pull request #${pr.number}`, { "data-pr": repo }), ` (${pr.head} → ${pr.base})`))),
        d.release_notes ? h("p", {}, "Release notes: ", extLink(d.release_notes.url, d.release_notes.title)) : null,
        (d.skipped || []).length ? h("div", { class: "notice" }, h("strong", {}, "Left out of this release"),
          h("ul", { class: "plain" }, d.skipped.map((s) => h("li", {}, h("span", { class: "mono" }, `${s.repo}${s.branch ? ` ${s.branch}` : ""}`), ` — ${s.reason}`)))) : null,
      ],
    };
  }
  if (p.kind === "conflict") {
    return {
      title: `Merge conflict in ${d.repo}`,
      intro: [
        h("p", {}, h("span", { class: "mono" }, d.branch), d.ticket ? ` (${d.ticket})` : "", " does not merge cleanly into the release branch."),
        h("p", {}, "Conflicting files: ", h("span", { class: "mono" }, (d.files || []).join(", ") || "unknown")),
        h("ul", { class: "what-to-do" },
          h("li", {}, h("strong", {}, "Skip branch"), ` — release without ${d.ticket || "this branch"}; it stays open for a later release.`),
          h("li", {}, h("strong", {}, "Abort release"), " — stop this repository's release; nothing more is merged.")),
      ],
    };
  }
  const err = d.error || {};
  const where = err.repo ? ` in ${err.repo}` : "";
  return {
    title: `Step failed: ${(err.step || "unknown").replaceAll("_", " ")}${where}`,
    intro: [
      h("p", { class: "error-text" }, err.message || run.error || "The step failed."),
      h("p", { class: "muted small" }, [err.kind || "Error", err.attempt ? `retried ${err.attempt} time${err.attempt === 1 ? "" : "s"}` : null,
        err.transient ? "probably temporary" : "will not fix itself"].filter(Boolean).join(" · ")),
      h("ul", { class: "what-to-do" },
        p.choices.includes("retry") ? h("li", {}, h("strong", {}, "Retry"), " — run the step again once the cause is fixed (or if it was a hiccup).") : null,
        p.choices.includes("skip") ? h("li", {}, h("strong", {}, "Skip"), err.repo ? ` — release without ${err.repo}.` : " — go on without this step.") : null,
        p.choices.includes("abort") ? h("li", {}, h("strong", {}, "Abort"), " — end the run; nothing further changes.") : null),
    ],
  };
}

const BUTTONS = {
  plan_approval: [["approve", "Approve plan", "primary"], ["amend", "Amend plan", ""], ["reject", "Reject plan", "danger"]],
  release_approval: [["approve", "Approve release", "primary"], ["reject", "Reject release", "danger"]],
  conflict: [["skip", "Skip branch", "primary"], ["reject", "Abort release", "danger"]],
  error: [["retry", "Retry", "primary"], ["skip", "Skip", ""], ["reject", "Abort", "danger"]],
};
const CHOICE = { approve: "approve", amend: "amend", reject: null, skip: "skip", retry: "retry" };

/** One pending decision as a panel with its controls (none for a viewer). */
export function decisionPanel(p, run, state, ctx, onDecided) {
  const roles = ctx.config.roles;
  const buttons = (BUTTONS[p.kind] || []).filter(([action]) =>
    may(roles, action) && (CHOICE[action] === null ? p.choices.some((c) => c === "reject" || c === "abort") : p.choices.includes(CHOICE[action])));
  const canAmend = buttons.some(([a]) => a === "amend");
  const panel = h("section", { class: `card decision decision-${p.kind}`, "data-decision": p.kind, "data-interrupt": p.interrupt_id, "aria-labelledby": `d-${p.interrupt_id}` });
  const countExcluded = () => panel.querySelectorAll("input[data-exclude]:checked").length;
  const onTick = () => {
    const amend = panel.querySelector('button[data-action="amend"]');
    if (!amend) return;
    const n = countExcluded();
    amend.disabled = n === 0;
    amend.textContent = n ? `Amend plan (exclude ${n})` : "Amend plan";
  };
  const { title, intro } = body(p, run, state);
  panel.append(h("header", { class: "card-head" },
    h("h2", { id: `d-${p.interrupt_id}`, tabindex: -1 }, h("span", { class: "decision-icon", "aria-hidden": "true" }, p.kind === "error" ? "!" : p.kind === "conflict" ? "⚠" : "?"), title),
    badge(p.kind === "error" ? "failed" : "waiting", "")));
  panel.append(h("div", { class: "decision-body" }, intro));
  if (p.kind === "plan_approval") {
    panel.append(h("div", { class: "decision-body" }, planTables(p.payload.plan, state.jira_tickets, canAmend, onTick)));
    if (canAmend) panel.append(h("p", { class: "help" }, "To amend, tick what to leave out, then choose “Amend plan”: Enigma re-plans without it and asks again."));
  }
  if (!buttons.length) {
    panel.append(h("p", { class: "notice", "data-no-actions": "" }, `Waiting for someone allowed to decide. ${ctx.config.user} (${roles.join(", ") || "no role"}) can follow the run but not act.`));
    return panel;
  }
  const comment = h("textarea", { id: `c-${p.interrupt_id}`, rows: 2, maxlength: 2000, placeholder: "Why? (kept with the decision)" });
  const status = h("p", { class: "form-error", role: "alert" });
  const row = h("div", { class: "actions" });
  for (const [action, text, kind] of buttons) {
    const btn = h("button", { type: "button", class: `btn ${kind}`, "data-action": action, disabled: action === "amend" }, text);
    btn.addEventListener("click", async () => {
      const bodyJson = { comment: comment.value.trim(), interrupt_id: p.interrupt_id };
      if (action === "amend") {
        const exclude = { tickets: [], branches: [], repositories: [] };
        for (const box of panel.querySelectorAll("input[data-exclude]:checked")) exclude[box.dataset.exclude].push(box.value);
        bodyJson.exclude = exclude;
      }
      for (const b of row.querySelectorAll("button")) b.disabled = true;
      status.textContent = "";
      status.className = "form-note";
      status.textContent = "Sending…";
      try {
        await api(`/api/runs/${encodeURIComponent(run.id)}/${action}`, { method: "POST", body: bodyJson });
        status.textContent = `${text}: sent. The run continues.`;
        onDecided();
      } catch (exc) {
        status.className = "form-error";
        status.textContent = exc.message;
        for (const b of row.querySelectorAll("button")) b.disabled = b.dataset.action === "amend" && countExcluded() === 0;
      }
    });
    row.append(btn);
  }
  panel.append(h("div", { class: "decide" },
    h("div", { class: "field" }, h("label", { for: `c-${p.interrupt_id}` }, "Comment"), comment), row, status));
  return panel;
}
