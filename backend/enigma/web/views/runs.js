// The runs list: newest first, filtered by status, fix version and a search, live over the
// all-runs event stream.
//
// The filters live in the address (#/?status=…&version=…&q=…) so a filtered list can be
// shared; they are changed with replaceState, not by navigating, so typing in the search box
// never rebuilds the page under the cursor.

import { api, ApiError, may, stream } from "../api.js";
import { age, duration, empty, h, replace, stackable, when } from "../dom.js";
import { PENDING, pendingWhere, statusText } from "../wording.js";
import { outcomeBadge, outcomeSentence } from "./outcome.js";
import { blockedCause, noteService, streamReconnected } from "./service.js";

const STATUSES = ["queued", "running", "waiting_for_approval", "paused", "succeeded", "failed", "cancelled"];
const COLUMNS = ["Run", "Status", "Fix version", "Repositories", "Started by", "Started", "Duration", "Now"];

// Whether the API takes `q`; an API without it answers 422 naming the parameter, and the
// list then searches on this side alone (GET /api/runs?q= searches tickets there too).
let serverSearch = true;

function now(run) {
  if (run.pending.length) {
    const first = run.pending[0];
    const needs = PENDING[first.kind]?.needs || first.kind.replaceAll("_", " ");
    const more = run.pending.length > 1 ? ` (+${run.pending.length - 1} more)` : "";
    return h("strong", { class: "attention", title: run.pending.map(pendingWhere).join("; ") }, `Needs ${needs}${more}`);
  }
  const ending = outcomeSentence(run);
  if (ending) {
    const tone = run.outcome === "failed" || run.outcome === "refused" ? "error-text" : "";
    return h("span", { class: `outcome-line ${tone}`.trim(), "data-outcome-text": "", title: `${ending} (finished ${when(run.finished_at || run.updated_at)})` },
      ending.length > 160 ? `${ending.slice(0, 157)}…` : ending);
  }
  if (run.status === "failed") return h("span", { class: "error-text", title: run.error || "" }, (run.error || "failed").slice(0, 80));
  if (run.finished_at) return h("span", { class: "muted", title: when(run.finished_at) }, `finished ${age(run.finished_at)}`);
  return (run.current_step || "").replaceAll("_", " ");
}

function blocked(run) {
  const cause = run.outcome || run.finished_at ? null : blockedCause(run);
  if (!cause) return null;
  return h("div", {}, h("span", { class: "badge badge-blocked", "data-blocked": "", title: cause }, `waiting: ${cause.length > 60 ? `${cause.slice(0, 57)}…` : cause}`));
}

const runDuration = (run) => (run.finished_at || Date.now() / 1000) - run.created_at;

function row(run) {
  return h("tr", { "data-run": run.id },
    h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, class: "run-link" }, `Release ${run.fix_version}`),
      h("div", { class: "muted mono small" }, run.id)),
    h("td", {}, outcomeBadge(run, statusText(run)), run.dry_run ? h("span", { class: "tag" }, "dry run") : null,
      blocked(run)),
    h("td", { class: "mono" }, run.fix_version, h("div", { class: "muted small" }, run.release_type)),
    h("td", {}, h("ul", { class: "chips" }, run.repositories.map((r) => h("li", {}, r)))),
    h("td", {}, run.actor),
    h("td", {}, h("time", { datetime: new Date(run.created_at * 1000).toISOString(), title: when(run.created_at), "data-age": run.created_at }, age(run.created_at))),
    h("td", { class: "nowrap tabular" }, h("span", { "data-duration": run.finished_at ? "" : run.created_at }, duration(runDuration(run)))),
    h("td", { class: "small" }, now(run)));
}

/** Whether a run matches the search words (run id, fix version, repositories, ticket keys). */
function matches(run, q) {
  if (!q) return true;
  const hay = [run.id, run.fix_version, ...run.repositories, ...(run.tickets || [])].join(" ").toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((word) => hay.includes(word));
}

function filters(params, ctx, onChange) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const select = h("select", { id: "status-filter", name: "status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.replaceAll("_", " "))));
  const version = h("input", { id: "version-filter", name: "version", list: "version-options", autocomplete: "off", class: "mono", placeholder: "any", value: params.get("version") || "", size: 8 });
  const versions = h("datalist", { id: "version-options" }, ctx.config.fix_versions.map((v) => h("option", { value: v })));
  const search = h("input", { id: "run-search", name: "q", type: "search", autocomplete: "off", placeholder: "Ticket, repository or run id", value: params.get("q") || "" });
  select.addEventListener("change", onChange);
  let typing = null;
  for (const box of [version, search]) {
    box.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(onChange, 250);
    });
  }
  const bar = h("div", { class: "filters", role: "search", "aria-label": "Filter runs" },
    h("div", { class: "filter" }, h("label", { for: "run-search" }, "Search"), search),
    h("div", { class: "filter" }, h("label", { for: "version-filter" }, "Fix version"), version, versions),
    h("div", { class: "filter" }, h("label", { for: "status-filter" }, "Status"), select));
  const read = () => ({ status: select.value, version: version.value.trim(), q: search.value.trim() });
  return { bar, read };
}

/** Render the list into `root`; returns {destroy}. */
export function runsView(root, ctx, params) {
  document.title = "Runs · Enigma";
  const live = h("span", { class: "live", "data-live": "connecting", role: "status" }, "Connecting…");
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading runs…"));
  const total = h("span", { class: "muted", id: "runs-total", "aria-live": "polite" });
  const form = filters(params, ctx, () => {
    const chosen = Object.entries(form.read()).filter(([, v]) => v);
    const hash = chosen.length ? `#/?${new URLSearchParams(chosen)}` : "#/";
    window.history.replaceState(null, "", hash);
    load();
  });
  replace(root, h("section", { class: "card" },
    h("header", { class: "page-head" },
      h("div", {}, h("h1", {}, "Release runs"), total),
      h("div", { class: "toolbar" }, live,
        may(ctx.config.roles, "start") ? h("a", { href: "#/new", class: "btn primary", id: "new-run" }, "New run") : null)),
    form.bar, body));

  let timer = null;
  let inflight = null;
  async function fetchRuns(f, signal) {
    const query = new URLSearchParams({ limit: "100" });
    if (f.status) query.set("status", f.status);
    if (f.version) query.set("fix_version", f.version);
    if (f.q && serverSearch) query.set("q", f.q);
    try {
      return await api(`/api/runs?${query}`, { signal });
    } catch (exc) {
      const refusedQ = exc instanceof ApiError && exc.status === 422 && exc.errors.some((e) => e.field === "query.q" || e.field === "q");
      if (!refusedQ) throw exc;
      serverSearch = false;
      return fetchRuns(f, signal);
    }
  }
  async function load() {
    inflight?.abort();
    inflight = new AbortController();
    const f = form.read();
    try {
      const data = await fetchRuns(f, inflight.signal);
      const runs = data.runs.filter((r) => matches(r, f.q));
      const filtered = f.status || f.version || f.q;
      total.textContent = f.q ? `${runs.length} of ${data.total} runs match` : `${data.total} run${data.total === 1 ? "" : "s"}${filtered ? " match" : ""}`;
      replace(body, runs.length
        ? stackable(h("table", { class: "runs" },
          h("caption", { class: "sr-only" }, "Release runs, newest first"),
          h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, runs.map(row))))
        : empty(filtered ? "No runs match these filters." : "No release runs yet. Start one with “New run”."));
      return data.runs;
    } catch (exc) {
      if (exc.name !== "AbortError") replace(body, h("p", { class: "error", role: "alert" }, exc.message));
      return [];
    }
  }
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  };
  const ticker = setInterval(() => {
    for (const t of root.querySelectorAll("time[data-age]")) t.textContent = age(Number(t.dataset.age));
    for (const d of root.querySelectorAll("[data-duration]:not([data-duration=''])")) d.textContent = duration(Date.now() / 1000 - Number(d.dataset.duration));
  }, 5000);

  let events = null;
  let destroyed = false;
  load().then(async (runs) => {
    // Follow from the newest event we can see instead of replaying the whole log.
    const newest = [...runs].sort((a, b) => b.updated_at - a.updated_at)[0];
    let after = null;
    if (newest) {
      const log = await api(`/api/runs/${encodeURIComponent(newest.id)}/events?format=json`).catch(() => ({ events: [] }));
      after = log.events.length ? log.events[log.events.length - 1].id : null;
    }
    if (destroyed) return;
    events = stream("/api/events", {
      after,
      onEvent: (type, e) => {
        if (noteService(type, e) && type !== "service.degraded") refresh();
        if (type.startsWith("run.") || type.startsWith("decision.") || type === "step.started") refresh();
      },
      onState: (state) => {
        if (state === "live") streamReconnected();
        live.dataset.live = state;
        live.textContent = state === "live" ? "Live" : "Reconnecting…";
      },
    });
  });
  return {
    destroy() {
      destroyed = true;
      clearTimeout(timer);
      clearInterval(ticker);
      inflight?.abort();
      events?.close();
    },
  };
}
