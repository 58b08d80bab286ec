// The run page: sticky header with controls, pending decisions first, graph, details, live log.

import { api, stream } from "../api.js";
import { clock, duration, h, replace, section } from "../dom.js";
import { pendingWhere, sortPending, statusText } from "../wording.js";
import { announce, drawAttention } from "./attention.js";
import { decisionPanel, fourEyesBlocks } from "./decision.js";
import { renderGraph, showActive } from "./graph.js";
import { blockedBanner, outcomeBadge } from "./outcome.js";
import { tickDeadlines } from "./deadline.js";
import { notificationFeed } from "./notifications.js";
import { approvals, logEntry, releaseNotes, repositories, stepsTable, tickets } from "./panels.js";
import { banner, controls, whereNow } from "./run_head.js";
import { isFinished, newFacts, note, settle } from "./run_facts.js";
import { blockedCause, noteService, streamReconnected } from "./service.js";

const MAX_LOG = 500;

let graphCache = null;

/** Render one run into `root` and keep it live; returns {destroy}. */
export function runView(root, ctx, runId) {
  document.title = "Run · Enigma";
  const slots = {
    head: h("div", { class: "run-head-info" }), controls: h("div", { class: "run-controls" }),
    blocked: h("div"), banner: h("div"), decisions: h("div", { class: "decisions", id: "decisions" }),
    graph: h("div"), repos: h("div"), tickets: h("div"), notes: h("div"), approvals: h("div"), steps: h("div"),
    notify: h("div", { id: "notify-list" }),
  };
  const notifyCount = h("span", { class: "muted small", id: "notify-count" });
  // Focusable so that keyboard users can scroll it (it scrolls inside its card).
  const log = h("ol", { class: "log", id: "event-log", "aria-live": "off", tabindex: 0, "aria-labelledby": "log-h" });
  const live = h("span", { class: "live", "data-live": "connecting", role: "status" }, "Connecting…");
  const elapsed = h("span", { class: "elapsed mono", id: "elapsed" });
  const actionError = h("p", { class: "form-error", role: "alert" });
  const facts = newFacts();
  const seen = new Set();
  replace(root, h("div", { class: "run-page" },
    h("header", { class: "run-head", id: "run-head" },
      h("div", { class: "run-head-inner" }, slots.head, slots.controls), h("div", { class: "run-head-side" }, live), actionError),
    slots.blocked, slots.banner, slots.decisions,
    section("Workflow", slots.graph, { id: "graph" }),
    h("div", { class: "run-grid" },
      h("div", { class: "run-main" },
        section("Repositories", slots.repos, { id: "repos" }),
        section("Tickets", slots.tickets, { id: "tickets" }),
        section("Release notes", slots.notes, { id: "notes" }),
        section("Decisions", slots.approvals, { id: "approvals" }),
        section("Notifications", slots.notify, { id: "notifications", actions: notifyCount }),
        h("details", { class: "card steps-details" }, h("summary", {}, h("h2", {}, "All steps")), slots.steps)),
      h("aside", { class: "run-side" }, section("Event log", log, { id: "log", actions: h("span", { class: "muted small", id: "log-count" }) })))));

  const memo = {};
  function put(slot, key, build) {
    if (memo[slot] === key) return false;
    memo[slot] = key;
    const hadFocus = slots[slot].contains(document.activeElement);
    replace(slots[slot], build());
    // Keyboard users keep their place: the next decision, or else the run's title.
    if (hadFocus) (slots[slot].querySelector("h2[tabindex]") || root.querySelector(".run-title h1"))?.focus();
    return true;
  }

  let run = null;
  let detail = null;
  function render() {
    const state = detail.state || {};
    const steps = settle(detail.steps || [], detail);
    const words = run.outcome ? outcomeBadge(run).textContent : statusText(run);
    document.title = `${run.fix_version} · ${words} · Enigma`;
    // A paused run takes no decision (the API refuses it): Resume asks again.
    const paused = run.status === "paused";
    const pending = paused ? [] : sortPending(run.pending);
    if (paused) for (const p of run.pending) seen.delete(p.interrupt_id);
    const pausing = facts.pausing && run.status === "running";
    const where = whereNow(run, state, pending);
    const blocked = isFinished(run) ? null : blockedCause(run);
    put("head", JSON.stringify([run.status, run.outcome, run.finished_at, words, where?.textContent, pausing]), () => [
      h("div", { class: "run-title" },
        h("a", { href: "#/", class: "back" }, "← Runs"),
        h("h1", { tabindex: -1 }, `Release ${run.fix_version}`),
        h("span", { id: "run-status" }, outcomeBadge(run, statusText(run))),
        pausing ? h("span", { class: "badge badge-paused", id: "run-pausing" }, "pausing at the next step…") : null,
        run.dry_run ? h("span", { class: "tag" }, "dry run") : null),
      h("div", { class: "run-meta" },
        h("span", {}, run.release_type), h("span", {}, `started by ${run.actor}`),
        h("span", {}, `${run.repositories.length} repositor${run.repositories.length === 1 ? "y" : "ies"}`),
        run.sprint_name ? h("span", {}, run.sprint_name) : null,
        h("span", {}, "elapsed ", elapsed),
        // While a decision waits, the last step is old news: say what is waiting instead.
        where,
        h("span", { class: "mono muted" }, run.id)),
    ]);
    // Keyed on the status alone, so a focused button survives the run's progress events.
    put("controls", JSON.stringify([run.status, ctx.config.roles, pausing]), () => controls(run, ctx, act, pausing));
    put("blocked", JSON.stringify(blocked), () => blockedBanner(blocked));
    put("banner", JSON.stringify([run.status, run.error, run.outcome, run.detail, facts.paused, ctx.config.roles]), () => banner(run, facts.paused, ctx, act));
    put("decisions", JSON.stringify([pending.map((p) => [p.interrupt_id, p.payload?.approved_by, p.payload?.requested_at]), ctx.config.roles, fourEyesBlocks(run, ctx.config)]), () =>
      pending.map((p) => decisionPanel(p, run, state, ctx, refresh)));
    tick();
    const fresh = pending.filter((p) => !seen.has(p.interrupt_id));
    for (const p of pending) seen.add(p.interrupt_id);
    if (fresh.length) {
      const titleOf = (p) => slots.decisions.querySelector(`[data-interrupt="${p.interrupt_id}"] .decision-title`)?.textContent || pendingWhere(p);
      announce(`Decision needed: ${fresh.map(titleOf).join("; ")}`);
      drawAttention(slots.decisions.querySelector(`[data-interrupt="${fresh[0].interrupt_id}"]`), root);
    }
    if (put("graph", JSON.stringify([steps, run.status]), () => renderGraph(graphCache, run, steps))) showActive(slots.graph);
    put("repos", JSON.stringify([run.pending, run.outcome, state.release_branches, state.merge_status, state.pull_requests, state.checks, state.repo_outcomes, state.legs, state.skipped, state.finalized, state.plan, steps]), () => repositories(run, state, steps));
    put("tickets", JSON.stringify([state.jira_tickets, state.plan, state.merge_status, state.repo_outcomes, state.finalized, run.outcome, run.detail]), () => tickets(state, run));
    put("notes", JSON.stringify(state.release_notes || null), () => releaseNotes(state));
    put("approvals", JSON.stringify([state.approvals || [], facts.cancelled, facts.answered.length, facts.expired.length, run.outcome]), () => approvals(state, facts, run));
    put("steps", JSON.stringify(steps), () => stepsTable(steps));
  }

  function tick() {
    if (!run) return;
    const end = run.finished_at || Date.now() / 1000;
    elapsed.textContent = duration(end - run.created_at);
    for (const since of slots.decisions.querySelectorAll("[data-waiting]")) {
      const asked = facts.asked.get(since.dataset.waiting);
      since.textContent = asked == null ? "" : `Asked at ${clock(asked)}; waiting ${duration(Date.now() / 1000 - asked)}.`;
    }
    tickDeadlines(slots.decisions, facts);
  }

  async function act(command) {
    actionError.textContent = "";
    try {
      await api(`/api/runs/${encodeURIComponent(runId)}/${command}`, { method: "POST" });
      if (command === "pause" && note(facts, "run.pause_requested", {})) announce("Pausing at the next step.");
      refresh();
    } catch (exc) {
      actionError.textContent = exc.message;
    }
  }

  // The graph's shape never changes while the page is open: fetch it once.
  const graphReady = graphCache
    ? Promise.resolve()
    : api("/api/graph").then((g) => { graphCache = g; }, () => { graphCache = { nodes: [], edges: [] }; });
  let inflight = null;
  let again = false;
  async function load() {
    if (inflight) {
      again = true;
      return;
    }
    inflight = graphReady.then(() => api(`/api/runs/${encodeURIComponent(runId)}`));
    try {
      detail = await inflight;
      run = detail;
      render();
    } catch (exc) {
      if (!run) {
        replace(root, h("section", { class: "card narrow" }, h("h1", {}, "Run not available"),
          h("p", { class: "error", role: "alert" }, exc.message), h("a", { href: "#/", class: "btn" }, "Back to runs")));
        stop();
      } else {
        actionError.textContent = exc.message;
      }
    } finally {
      inflight = null;
    }
    if (again) {
      again = false;
      load();
    }
  }
  let timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(load, 120);
  }

  const ticker = setInterval(tick, 1000);
  const feed = notificationFeed(slots.notify, notifyCount, runId, facts);
  let count = 0;
  const events = stream(`/api/runs/${encodeURIComponent(runId)}/events`, {
    onEvent: (type, e) => {
      if (type === "shutdown") return;
      // Notices without an id (the store is down) are about the service, not this run's log.
      if (noteService(type, { run_id: runId, ...e }) && e.id == null) {
        if (run) render();
        return;
      }
      note(facts, type, e);
      feed.onEvent(type, e);
      if (log.firstChild?.classList?.contains("empty")) log.replaceChildren();
      log.prepend(logEntry(type, e));
      while (log.children.length > MAX_LOG) log.lastChild.remove();
      count += 1;
      root.querySelector("#log-count").textContent = `${count} event${count === 1 ? "" : "s"}`;
      refresh();
    },
    onState: (state) => {
      if (state === "live") streamReconnected();
      live.dataset.live = state;
      live.textContent = state === "live" ? "Live" : "Reconnecting…";
    },
  });
  log.append(h("li", { class: "empty muted" }, "Waiting for events…"));

  function stop() {
    clearInterval(ticker);
    clearTimeout(timer);
    events.close();
    feed.destroy();
  }

  load();
  return { destroy: stop };
}
