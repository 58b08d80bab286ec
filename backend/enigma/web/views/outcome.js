// How a run ended, in words: one sentence for the runs list, a card with the details for the
// run page. Everything comes from the run record's `outcome` and `detail` (the API's account
// of the ending); the lifecycle `status` alone cannot tell "released in part" from "released".

import { badge, extLink, h, when } from "../dom.js";

/** Words of each outcome's badge; `partial` and `succeeded` never look alike. */
export const OUTCOME = {
  succeeded: "released",
  partial: "released in part",
  planned: "planned only",
  rejected: "rejected",
  refused: "refused",
  cancelled: "cancelled",
  failed: "failed",
};

// `at` is unix seconds for some endings and ISO text for others.
function moment(at) {
  if (at == null || at === "") return null;
  const seconds = typeof at === "number" ? at : Date.parse(at) / 1000;
  return Number.isFinite(seconds) ? seconds : null;
}

const plain = (text) => String(text || "").replaceAll("_", " ");

/** The badge of a run: its outcome once there is one, else its lifecycle status. */
export function outcomeBadge(run, statusWords) {
  if (!run.outcome) return badge(run.status, "", statusWords);
  const el = badge(run.outcome, "", OUTCOME[run.outcome] || plain(run.outcome));
  el.dataset.lifecycle = run.status;
  return el;
}

/** One sentence saying how the run ended (or null while it has not). */
export function outcomeSentence(run) {
  const d = run.detail || {};
  const at = moment(d.at);
  const time = at == null ? "" : ` at ${when(at)}`;
  switch (run.outcome) {
    case "rejected": {
      const what = d.rejected === "plan" ? "Plan" : d.rejected === "release" ? "Release" : "Run";
      // The deadline watch (runs/deadlines.py) rejects a decision nobody made in time.
      if (d.by === "deadline") return `${what} rejected by the deadline${time}: ${plain(d.comment) || "nobody decided in time"}`;
      return `${what} rejected by ${d.by || "someone"}${time}${d.comment ? `: ${d.comment}` : ""}`;
    }
    case "refused":
      return `Refused: ${d.reason || run.error || "the release cannot start"}`;
    case "cancelled": {
      const flight = (d.in_flight || []).length
        ? `, while ${d.in_flight.join(", ")} ${d.in_flight.length === 1 ? "was" : "were"} in flight`
        : "";
      return `Cancelled by ${d.by || "someone"}${time}${flight}`;
    }
    case "failed": {
      const where = d.where ? ` in ${plain(d.where)}` : "";
      const what = d.what || d.reason || run.error || "a step failed";
      return `Failed${where}: ${what}`;
    }
    case "partial":
    case "succeeded":
    case "planned":
      return d.reason || (run.outcome === "planned" ? `Planned ${run.fix_version}; nothing was changed` : `Released ${run.fix_version}`);
    default:
      return run.outcome ? d.reason || plain(run.outcome) : null;
  }
}

function list(title, key, items) {
  if (!items.length) return null;
  return h("div", { class: "outcome-part", [`data-${key}`]: "" }, h("h3", {}, title), h("ul", { class: "plain" }, items));
}

function releaseParts(run) {
  const d = run.detail || {};
  const prs = Object.entries(d.pull_requests || {});
  return [
    list("Left out", "left-out", (d.left_out || []).map((x) => h("li", {},
      h("span", { class: "mono" }, x.repo), x.branch ? [" ", h("span", { class: "mono" }, x.branch)] : "", ` — ${x.reason || "left out"}`))),
    list("Tickets not shipped", "not-shipped", (d.not_shipped || []).map((key) => h("li", { class: "mono" }, key))),
    list("Done by hand", "done-by-hand", (d.done_by_hand || []).map((x) => h("li", {},
      x.operation, ` — by ${x.by || "someone"}`, x.note ? h("span", { class: "quote-inline" }, `: “${x.note}”`) : ""))),
    list("Tickets done", "tickets-done", (d.tickets_done || []).length ? [h("li", { class: "mono" }, d.tickets_done.join(", "))] : []),
    prs.length || d.notes ? h("p", { class: "small outcome-links" },
      prs.map(([repo, url]) => [extLink(url, `${repo} pull request`), " · "]),
      d.notes ? extLink(d.notes, "release notes") : null) : null,
  ];
}

const TONE = { succeeded: "ok", partial: "warn", planned: "ok", rejected: "", refused: "bad", cancelled: "", failed: "bad" };

/**
 * The ending as a card on top of the run page. A failed run without an outcome can still be
 * resumed: the caller shows its own banner for that.
 */
export function outcomeCard(run) {
  const sentence = outcomeSentence(run);
  if (!sentence) return null;
  const tone = TONE[run.outcome] ?? "";
  const d = run.detail || {};
  const release = run.outcome === "partial" || run.outcome === "succeeded";
  return h("section", { class: `card banner outcome${tone ? ` banner-${tone}` : ""}`, "data-banner": run.outcome, "data-outcome": run.outcome, "data-by": d.by || null, "aria-labelledby": "outcome-h" },
    h("h2", { id: "outcome-h" }, h("span", { id: "outcome-text" }, /[.!?]$/.test(sentence) ? sentence : `${sentence}.`)),
    run.outcome === "cancelled" ? h("p", { class: "small" }, "Steps that had not finished will not run; the graph shows them in grey.") : null,
    run.outcome === "failed" && d.reason && d.what && d.reason !== d.what ? h("p", { class: "error-text small" }, d.reason) : null,
    release ? releaseParts(run) : null,
    run.finished_at && !d.at ? h("p", { class: "muted small" }, `Finished ${when(run.finished_at)}.`) : null);
}

/** "Waiting: github unreachable (…)" for a run held up by a dependency, or null. */
export function blockedBanner(cause) {
  if (!cause) return null;
  return h("section", { class: "card banner banner-warn blocked", "data-banner": "blocked", role: "status" },
    h("p", {}, h("strong", {}, "Waiting: "), h("span", { id: "blocked-cause" }, cause)),
    h("p", { class: "small" }, "The run carries on by itself once it is reachable again; nothing is done twice."));
}
