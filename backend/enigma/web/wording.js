// Every word the page uses for a pending decision, its buttons and what each choice does.
//
// One map, so the badge, the header, the runs list, the announcement and the panel never
// disagree about what a run is waiting for or what a button will do.

/** What each kind of pending decision is called, from the badge to the panel's title. */
export const PENDING = {
  plan_approval: { badge: "waiting for plan approval", needs: "plan approval", title: "Approve the release plan" },
  release_approval: { badge: "waiting for release approval", needs: "release approval", title: "Approve the release" },
  conflict: { badge: "conflict to decide", many: "conflicts to decide", needs: "a conflict decided", title: "Merge conflict" },
  error: { badge: "error to decide", many: "errors to decide", needs: "an error decided", title: "Step failed" },
};

// Which decisions are the most urgent: errors first, then conflicts, then approvals.
const ORDER = { error: 0, conflict: 1, plan_approval: 2, release_approval: 3 };

/** Pending decisions, the most urgent first. */
export function sortPending(pending) {
  return [...(pending || [])].sort((a, b) => (ORDER[a.kind] ?? 9) - (ORDER[b.kind] ?? 9));
}

const plainStatus = (status) => String(status || "unknown").replaceAll("_", " ");

/** The status badge's words: for a waiting run, what it waits for ("2 conflicts to decide"). */
export function statusText(run) {
  if (run.status !== "waiting_for_approval" || !run.pending?.length) return plainStatus(run.status);
  const counts = new Map();
  for (const p of sortPending(run.pending)) counts.set(p.kind, (counts.get(p.kind) || 0) + 1);
  return [...counts].map(([kind, n]) => {
    const words = PENDING[kind];
    if (!words) return `${plainStatus(kind)} to decide`;
    return n > 1 && words.many ? `${n} ${words.many}` : words.badge;
  }).join(", ");
}

/** Where one pending decision sits: "conflict in payments-api (feature/x)". */
export function pendingWhere(p) {
  const d = p.payload || {};
  if (p.kind === "conflict") return `conflict in ${d.repo}${d.branch ? ` (${d.branch})` : ""}`;
  if (p.kind === "error") {
    const err = d.error || {};
    if (err.kind === "ChecksFailed") return `failed checks in ${err.repo || "a repository"}`;
    return `error in ${plainStatus(err.step || "a step")}${err.repo ? ` (${err.repo})` : ""}`;
  }
  return PENDING[p.kind]?.needs || plainStatus(p.kind);
}

/**
 * The buttons of each kind of decision: [API action, label, the choice it answers, what it does].
 *
 * `choice` is the value the decision must list in `choices` for the button to be offered.
 * Conflicts and errors are aborted through POST /abort. The `does` texts say what really
 * happens: at a conflict or an error inside a repository, abort ends that repository's leg;
 * the others finish, and then the run ends failed without asking for release approval, so
 * nothing reaches the target branches.
 */
export const ACTIONS = {
  plan_approval: [
    { action: "approve", label: "Approve plan", choice: "approve", does: "create the release branches and merge the planned branches." },
    { action: "amend", label: "Amend plan", choice: "amend", does: "leave out what you ticked; Enigma plans again and asks again." },
    { action: "reject", label: "Reject plan", choice: "reject", does: "end the run; nothing is changed." },
  ],
  release_approval: [
    { action: "approve", label: "Approve release", choice: "approve", does: "do what the list above says, and nothing else." },
    { action: "reject", label: "Reject release", choice: "reject", does: "end the run; the pull requests stay open and nothing is merged into the target branches." },
  ],
  conflict: [
    { action: "skip", label: "Skip branch", choice: "skip", does: "release without this branch; its ticket stays open for a later release." },
    { action: "abort", label: "Abort the release", choice: "abort", does: "stop this repository here. The other repositories finish their part, then the run ends failed without asking for release approval: nothing is merged into the target branches." },
  ],
  error: [
    { action: "retry", label: "Retry", choice: "retry", does: "run the step again." },
    { action: "skip", label: "Skip", choice: "skip", does: "go on without it." },
    { action: "abort", label: "Abort", choice: "abort", does: "end the run as failed." },
  ],
};

/** What abort and skip mean at an error inside one repository's leg. */
export const REPO_ERROR = {
  skip: (repo) => `release without ${repo}; the other repositories go on.`,
  abort: (repo) => `stop ${repo} here. The other repositories finish their part, then the run ends failed without asking for release approval.`,
};

// What a notification told people, by its type; a request names the decision it asks for.
const ASKED = {
  plan_approval: "asked for plan approval",
  release_approval: "asked for release approval",
  conflict: "asked to decide a conflict",
  error: "asked to decide a failed step",
};
const NOTIFIED = {
  "decision.reminder": "reminded",
  "decision.made": "decision made",
  "decision.expired": "decision expired",
  "run.finished": "release finished",
  "run.failed": "run failed",
};

/** A notification in words: "asked for plan approval", "reminded", "run failed". */
export function notifiedWhat(type, kind) {
  if (type === "decision.requested") return ASKED[kind] || "asked for a decision";
  return NOTIFIED[type] || plainStatus(type);
}

/** What a decision deadline does when it passes, after "then": "then rejected". */
export const ON_EXPIRE = { reject: "then rejected", pause: "then paused" };
