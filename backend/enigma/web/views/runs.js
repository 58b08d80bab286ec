// The runs list: newest first, a status filter, live over the all-runs event stream.

import { api, may, stream } from "../api.js";
import { age, badge, empty, h, replace, when } from "../dom.js";

const STATUSES = ["queued", "running", "waiting_for_approval", "paused", "succeeded", "failed", "cancelled"];

function now(run, waiting) {
  if (waiting) return h("strong", { class: "attention" }, `Needs ${waiting}`);
  if (run.status === "failed") return h("span", { class: "error-text", title: run.error || "" }, (run.error || "failed").slice(0, 80));
  if (run.finished_at) return h("span", { class: "muted", title: when(run.finished_at) }, `finished ${age(run.finished_at)}`);
  return (run.current_step || "").replaceAll("_", " ");
}

function row(run) {
  const waiting = run.pending.map((p) => p.kind.replaceAll("_", " ")).join(", ");
  return h("tr", { "data-run": run.id },
    h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, class: "run-link" }, `Release ${run.fix_version}`),
      h("div", { class: "muted mono small" }, run.id)),
    h("td", {}, badge(run.status), run.dry_run ? h("span", { class: "tag" }, "dry run") : null),
    h("td", { class: "mono" }, run.fix_version, h("div", { class: "muted small" }, run.release_type)),
    h("td", {}, h("ul", { class: "chips" }, run.repositories.map((r) => h("li", {}, r)))),
    h("td", {}, run.actor),
    h("td", {}, h("time", { datetime: new Date(run.created_at * 1000).toISOString(), title: when(run.created_at), "data-age": run.created_at }, age(run.created_at))),
    h("td", { class: "small" }, now(run, waiting)));
}

/** Render the list into `root`; returns {destroy}. */
export function runsView(root, ctx, params) {
  document.title = "Runs · Enigma";
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const select = h("select", { id: "status-filter", name: "status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.replaceAll("_", " "))));
  select.addEventListener("change", () => ctx.navigate(select.value ? `#/?status=${select.value}` : "#/"));
  const live = h("span", { class: "live", "data-live": "connecting", role: "status" }, "Connecting…");
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading runs…"));
  const total = h("span", { class: "muted" });
  replace(root, h("section", { class: "card" },
    h("header", { class: "page-head" },
      h("div", {}, h("h1", {}, "Release runs"), total),
      h("div", { class: "toolbar" },
        h("label", { for: "status-filter", class: "inline-label" }, "Status"), select, live,
        may(ctx.config.roles, "start") ? h("a", { href: "#/new", class: "btn primary", id: "new-run" }, "New run") : null)),
    body));

  let timer = null;
  let inflight = null;
  async function load() {
    inflight?.abort();
    inflight = new AbortController();
    const query = new URLSearchParams({ limit: "100" });
    if (status) query.set("status", status);
    try {
      const data = await api(`/api/runs?${query}`, { signal: inflight.signal });
      total.textContent = `${data.total} run${data.total === 1 ? "" : "s"}${status ? ` ${status.replaceAll("_", " ")}` : ""}`;
      replace(body, data.runs.length
        ? h("table", { class: "runs" },
          h("caption", { class: "sr-only" }, "Release runs, newest first"),
          h("thead", {}, h("tr", {}, ["Run", "Status", "Fix version", "Repositories", "Started by", "Started", "Now"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, data.runs.map(row)))
        : empty(status ? "No runs with this status." : "No release runs yet. Start one with “New run”."));
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
  }, 30000);

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
      onEvent: (type) => {
        if (type.startsWith("run.") || type.startsWith("decision.") || type === "step.started") refresh();
      },
      onState: (state) => {
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
