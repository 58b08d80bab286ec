// The release approval: exactly what approving will do, from the payload's `will`, and what
// is left out. Nothing is inferred from the pull requests the run opened: a skipped
// repository's pull request stays open and is listed under "left out", never as a merge.

import { extLink, h } from "../dom.js";
import { PENDING } from "../wording.js";

const mono = (text) => h("span", { class: "mono" }, text);

function part(title, key, items) {
  if (!items.length) return null;
  return h("div", { class: "will-part", [`data-will-${key}`]: "" }, h("h3", {}, title), h("ul", { class: "plain will-list" }, items));
}

function willList(will, run) {
  const merges = (will.merge || []).map((m) => h("li", { "data-will-repo": m.repo },
    mono(m.repo), " — ", extLink(m.url, `pull request #${m.number}`, { "data-pr": m.repo }),
    " into ", mono(m.into || "its target branch"), m.method ? ` (${m.method})` : ""));
  const tags = (will.tag || []).map((t) => h("li", {},
    mono(t.tag), " on ", mono(t.repo), t.release ? ", with a release page" : ", a tag only"));
  const tickets = (will.tickets || []).map((t) => h("li", {},
    mono(t.key), ` ${t.from || "?"} → ${t.to || "?"}`));
  const version = will.version
    ? h("li", {}, `Version ${will.version.name || run.fix_version} `, will.version.release ? "is marked released in the tracker" : "stays unreleased in the tracker")
    : null;
  return [
    part("Pull requests that merge", "merge", merges),
    part("Tags and releases", "tag", tags),
    part("Tickets that move", "tickets", tickets),
    part("Fix version", "version", version ? [version] : []),
  ];
}

function leftOut(will, skipped) {
  const items = (will ? will.left_out || [] : skipped || []).map((s) => h("li", { "data-left-repo": s.repo },
    mono(`${s.repo}${s.branch ? ` ${s.branch}` : ""}`), ` — ${s.reason || "left out"}`));
  const notShipped = will?.not_shipped || [];
  if (!items.length && !notShipped.length) return null;
  return h("div", { class: "notice", "data-left-out": "" },
    items.length ? [h("strong", {}, "Left out of this release"), h("ul", { class: "plain" }, items)] : null,
    notShipped.length ? h("p", { "data-not-shipped": "" }, h("strong", {}, "Tickets not shipped: "), mono(notShipped.join(", "))) : null);
}

// An older server sends no `will`: then the pull requests it lists, minus what it skipped.
function fromPullRequests(d, run) {
  const skipped = new Set((d.skipped || []).filter((s) => !s.branch).map((s) => s.repo));
  const prs = Object.entries(d.pull_requests || {}).filter(([repo]) => !skipped.has(repo));
  return [
    h("p", {}, `Approving merges these pull requests into their target branches, tags v${run.fix_version} and marks the shipped tickets done:`),
    h("ul", { class: "plain" }, prs.map(([repo, pr]) => h("li", {},
      mono(repo), " — ", extLink(pr.html_url, `pull request #${pr.number}`, { "data-pr": repo }), ` (${pr.head} → ${pr.base})`))),
  ];
}

/** Title and body of a release approval panel. */
export function releaseBody(p, run) {
  const d = p.payload || {};
  const will = d.will || null;
  return {
    title: PENDING.release_approval.title,
    intro: [
      will ? [h("p", { class: "will-lead" }, h("strong", {}, "Approving will do this, and nothing else:")), h("div", { class: "will", "data-will": "" }, willList(will, run))]
        : fromPullRequests(d, run),
      leftOut(will, d.skipped),
      d.release_notes ? h("p", {}, "Release notes: ", extLink(d.release_notes.url, d.release_notes.title)) : null,
    ],
  };
}
