// The run page: sticky header with controls, pending decisions first, graph, details, live log.

import { api, may, stream } from "../api.js";
import { badge, clock, duration, h, replace, section, when } from "../dom.js";
import { pendingWhere, sortPending, statusText } from "../wording.js";
import { announce, drawAttention } from "./attention.js";
import { decisionPanel, fourEyesBlocks } from "./decision.js";
import { renderGraph, showActive } from "./graph.js";
import { approvals, logEntry, releaseNotes, repositories, stepsTable, tickets } from "./panels.js";
import { newFacts, note, settle } from "./run_facts.js";

const TERMINAL = new Set(["succeeded", "cancelled"]);
const MAX_LOG = 500;

let graphCache = null;

function controls(run, ctx, act, pausing) {
  const roles = ctx.config.roles;
  const out = [];
  if (may(roles, "pause") && (run.status === "running" || run.status === "queued")) {
    out.push(h("button", { type: "button", class: "btn", "data-action": "pause", disabled: pausing, onclick: () => act("pause") }, pausing ? "Pausing…" : "Pause"));
  }
  if (may(roles, "resume") && (run.status === "paused" || run.status === "failed")) {
    out.push(h("button", { type: "button", class: "btn primary", "data-action": "resume", onclick: () => act("resume") }, "Resume"));
  }
  if (may(roles, "cancel") && !TERMINAL.has(run.status)) {
    out.push(h("button", { type: "button", class: "btn danger-outline", "data-action": "cancel", onclick: () => {
      if (window.confirm(`Cancel the release ${run.fix_version} run? In-flight work is abandoned and the run cannot continue.`)) act("cancel");
    } }, "Cancel run"));
  }
  return out;
}

function banner(run, facts) {
  if (run.status === "failed" && !run.pending.length) {
    return h("section", { class: "card banner banner-bad", role: "alert", "data-banner": "failed" },
      h("h2", {}, "The run failed"),
      h("p", { class: "error-text" }, run.error || "A step failed."),
      h("p", {}, h("strong", {}, "What to do: "), "fix the cause, then ", h("strong", {}, "Resume"), " to continue from the last checkpoint, or ", h("strong", {}, "Cancel run"), " to end it."));
  }
  if (run.status === "paused") {
    return h("section", { class: "card banner", "data-banner": "paused" }, h("p", {}, "The run is paused at a step boundary. ", h("strong", {}, "Resume"), " continues where it stopped."));
  }
  if (run.status === "succeeded") {
    return h("section", { class: "card banner banner-ok", "data-banner": "succeeded" }, h("p", {}, `Release ${run.fix_version} is out. Finished ${when(run.finished_at)}.`));
  }
  if (run.status === "cancelled") {
    const by = facts.cancelled;
    const who = by ? ` by ${by.actor || "someone"} at ${clock(by.at)}, ${duration(by.at - run.created_at)} after it started` : "";
    return h("section", { class: "card banner", "data-banner": "cancelled" },
      h("p", {}, h("strong", {}, `Cancelled${who}.`), " Steps that had not finished will not run; the graph shows them in grey."));
  }
  return null;
}

/** Render one run into `root` and keep it live; returns {destroy}. */
export function runView(root, ctx, runId) {
  document.title = "Run · Enigma";
  const slots = {
    head: h("div", { class: "run-head-info" }), controls: h("div", { class: "run-controls" }),
    banner: h("div"), decisions: h("div", { class: "decisions", id: "decisions" }),
    graph: h("div"), repos: h("div"), tickets: h("div"), notes: h("div"), approvals: h("div"), steps: h("div"),
  };
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
    slots.banner, slots.decisions,
    section("Workflow", slots.graph, { id: "graph" }),
    h("div", { class: "run-grid" },
      h("div", { class: "run-main" },
        section("Repositories", slots.repos, { id: "repos" }),
        section("Tickets", slots.tickets, { id: "tickets" }),
        section("Release notes", slots.notes, { id: "notes" }),
        section("Decisions", slots.approvals, { id: "approvals" }),
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
    document.title = `${run.fix_version} · ${statusText(run)} · Enigma`;
    const pending = sortPending(run.pending);
    const pausing = facts.pausing && run.status === "running";
    put("head", JSON.stringify([run.status, run.current_step, run.finished_at, statusText(run), pending.map(pendingWhere), pausing]), () => [
      h("div", { class: "run-title" },
        h("a", { href: "#/", class: "back" }, "← Runs"),
        h("h1", { tabindex: -1 }, `Release ${run.fix_version}`),
        h("span", { id: "run-status" }, badge(run.status, "", statusText(run))),
        pausing ? h("span", { class: "badge badge-paused", id: "run-pausing" }, "pausing at the next step…") : null,
        run.dry_run ? h("span", { class: "tag" }, "dry run") : null),
      h("div", { class: "run-meta" },
        h("span", {}, run.release_type), h("span", {}, `started by ${run.actor}`),
        h("span", {}, `${run.repositories.length} repositor${run.repositories.length === 1 ? "y" : "ies"}`),
        run.sprint_name ? h("span", {}, run.sprint_name) : null,
        h("span", {}, "elapsed ", elapsed),
        // While a decision waits, the last step is old news: say what is waiting instead.
        pending.length ? h("span", { id: "run-waiting" }, h("strong", {}, "waiting on "), pending.map(pendingWhere).join("; "))
          : run.current_step && !TERMINAL.has(run.status) ? h("span", { id: "run-at" }, `at ${run.current_step.replaceAll("_", " ")}`) : null,
        h("span", { class: "mono muted" }, run.id)),
    ]);
    // Keyed on the status alone, so a focused button survives the run's progress events.
    put("controls", JSON.stringify([run.status, ctx.config.roles, pausing]), () => controls(run, ctx, act, pausing));
    put("banner", JSON.stringify([run.status, run.error, facts.cancelled]), () => banner(run, facts));
    put("decisions", JSON.stringify([pending.map((p) => p.interrupt_id), ctx.config.roles, fourEyesBlocks(run, ctx.config)]), () =>
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
    put("repos", JSON.stringify([run.pending, state.release_branches, state.merge_status, state.pull_requests, state.checks, state.repo_outcomes, state.finalized, state.plan, steps]), () => repositories(run, state, steps));
    put("tickets", JSON.stringify([state.jira_tickets, state.plan, state.merge_status, state.finalized]), () => tickets(state));
    put("notes", JSON.stringify(state.release_notes || null), () => releaseNotes(state));
    put("approvals", JSON.stringify([state.approvals || [], facts.cancelled, facts.answered.length]), () => approvals(state, facts));
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
  let count = 0;
  const events = stream(`/api/runs/${encodeURIComponent(runId)}/events`, {
    onEvent: (type, e) => {
      if (type === "shutdown") return;
      note(facts, type, e);
      if (log.firstChild?.classList?.contains("empty")) log.replaceChildren();
      log.prepend(logEntry(type, e));
      while (log.children.length > MAX_LOG) log.lastChild.remove();
      count += 1;
      root.querySelector("#log-count").textContent = `${count} event${count === 1 ? "" : "s"}`;
      refresh();
    },
    onState: (state) => {
      live.dataset.live = state;
      live.textContent = state === "live" ? "Live" : "Reconnecting…";
    },
  });
  log.append(h("li", { class: "empty muted" }, "Waiting for events…"));

  function stop() {
    clearInterval(ticker);
    clearTimeout(timer);
    events.close();
  }

  load();
  return { destroy: stop };
}
