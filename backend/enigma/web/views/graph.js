// The workflow graph (from /api/graph) drawn as SVG, each step coloured by its status.
//
// The drawing keeps its own size inside a scrolling box: scaled down to a phone's width its
// labels would be a few pixels high. "Fit to width" shrinks it on request, for an overview.

import { h, stepName } from "../dom.js";
import { END, START, layout } from "./layout.js";
import { isFinished } from "./run_facts.js";

const RANK = { failed: 6, waiting: 5, running: 4, stopped: 3, done: 2, pending: 1 };
const LEGEND = { pending: "pending", running: "running", waiting: "waiting for a decision", done: "done", failed: "failed", stopped: "stopped", not_run: "will not run" };
// The labels' size in the drawing's own units (run.css .g-label) and the least a reader gets.
const LABEL_PX = 12.5;
const MIN_LABEL_PX = 11;
let fitToWidth = false;

/** Status and attempts of one graph node, from the run's steps (per repository for a leg). */
export function nodeStatus(id, steps, run) {
  if (id === START) return { status: steps.length ? "done" : "pending", attempts: 0, repos: [] };
  const over = isFinished(run);
  if (id === END) {
    const status = { succeeded: "done", cancelled: "stopped", failed: "failed" }[run.status] || "pending";
    return { status, attempts: 0, repos: [] };
  }
  // Once the run is over, whatever has not started will never run.
  const untouched = over ? "not_run" : "pending";
  const inLeg = id.includes(":");
  const name = id.replace(/^.*:/, "");
  const mine = steps.filter((s) => s.step === name && (inLeg ? s.repo : !s.repo));
  const repos = inLeg
    ? run.repositories.map((repo) => mine.find((s) => s.repo === repo) || { repo, status: untouched, attempts: 0 })
    : [];
  let status = "pending";
  for (const s of mine) if ((RANK[s.status] || 0) > RANK[status]) status = s.status;
  if (status === "pending") status = untouched;
  const attempts = Math.max(0, ...mine.map((s) => s.attempts));
  return { status, attempts, repos };
}

function label(text, x, box, width, dots) {
  // Two lines at most: split the words where the halves balance.
  const words = stepName(text).split(" ");
  let lines = [words.join(" ")];
  if (lines[0].length > 13 && words.length > 1) {
    let best = 1;
    for (let i = 1; i < words.length; i++) {
      const diff = Math.abs(words.slice(0, i).join(" ").length - words.slice(i).join(" ").length);
      if (diff < Math.abs(words.slice(0, best).join(" ").length - words.slice(best).join(" ").length)) best = i;
    }
    lines = [words.slice(0, best).join(" "), words.slice(best).join(" ")];
  }
  const middle = box.y + box.h / 2 - (dots ? 6 : 0);
  const y = middle + 4 - (lines.length - 1) * 6.5;
  const t = h("svg:text", { x: x + width / 2, y, "text-anchor": "middle", class: "g-label" });
  lines.forEach((line, i) => t.append(h("svg:tspan", { x: x + width / 2, dy: i ? "1.15em" : 0 }, line)));
  return t;
}

function drawNode(p, info) {
  const g = h("svg:g", {
    class: `g-node g-${info.status}${p.side ? " g-side" : ""}`,
    "data-node": p.id, "data-status": info.status, "data-attempts": info.attempts,
  });
  const tip = [`${stepName(p.id)}: ${info.status}`];
  if (info.attempts > 1) tip.push(`${info.attempts} attempts`);
  for (const r of info.repos) tip.push(`${r.repo}: ${r.status}${r.attempts > 1 ? ` (${r.attempts} attempts)` : ""}`);
  g.append(h("svg:title", {}, tip.join("\n")));
  if (p.id === START || p.id === END) {
    g.append(h("svg:circle", { cx: p.x + p.w / 2, cy: p.y + p.h / 2, r: p.w / 2, class: "g-box" }));
    return g;
  }
  g.append(h("svg:rect", { x: p.x, y: p.y, width: p.w, height: p.h, rx: 8, class: "g-box" }));
  const hasDots = info.repos.length > 0;
  g.append(label(p.id, p.x, p, p.w, hasDots));
  if (hasDots) {
    const step = 12;
    const x0 = p.x + p.w / 2 - ((info.repos.length - 1) * step) / 2;
    info.repos.forEach((r, i) => {
      g.append(h("svg:circle", { cx: x0 + i * step, cy: p.y + p.h - 9, r: 4, class: `g-dot g-${r.status}`, "data-repo": r.repo, "data-status": r.status }));
    });
  }
  if (info.attempts > 1) {
    g.append(h("svg:rect", { x: p.x + p.w - 22, y: p.y - 7, width: 26, height: 15, rx: 7, class: "g-attempts-bg" }));
    g.append(h("svg:text", { x: p.x + p.w - 9, y: p.y + 4, "text-anchor": "middle", class: "g-attempts" }, `×${info.attempts}`));
  }
  return g;
}

/** The graph as an SVG figure in its own scrolling box, with a legend and a zoom switch. */
export function renderGraph(graph, run, steps) {
  if (!graph?.nodes?.length) return h("p", { class: "muted" }, "The workflow graph is not available.");
  const plan = layout(graph);
  const svg = h("svg:svg", {
    viewBox: `0 0 ${plan.width} ${plan.height}`, width: plan.width, height: plan.height,
    class: "graph", role: "img", "aria-label": "Workflow graph with the status of each step",
  });
  const defs = h("svg:defs");
  for (const kind of ["forward", "back", "error"]) {
    defs.append(h("svg:marker", { id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      h("svg:path", { d: "M0,0 L10,5 L0,10 z", class: `g-arrow g-arrow-${kind}` })));
  }
  svg.append(defs);

  // The subgraph frame (the per-repository leg) behind its nodes.
  const leg = [...plan.pos.values()].filter((p) => p.id.includes(":"));
  if (leg.length) {
    const x1 = Math.min(...leg.map((p) => p.x)) - 10;
    const y1 = Math.min(...leg.map((p) => p.y)) - 22;
    const x2 = Math.max(...leg.map((p) => p.x + p.w)) + 10;
    const y2 = Math.max(...leg.map((p) => p.y + p.h)) + 10;
    svg.append(h("svg:rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, rx: 12, class: "g-frame" }));
    svg.append(h("svg:text", { x: x1 + 10, y: y1 + 14, class: "g-frame-label" }, `${leg[0].id.split(":")[0].replaceAll("_", " ")} · one per repository`));
  }
  for (const e of plan.edges) {
    svg.append(h("svg:path", {
      d: e.d, class: `g-edge g-edge-${e.kind}${e.conditional ? " g-cond" : ""}`,
      "marker-end": `url(#arrow-${e.kind})`, "marker-start": e.both ? `url(#arrow-${e.kind})` : null,
    }));
  }
  for (const p of plan.pos.values()) svg.append(drawNode(p, nodeStatus(p.id, steps, run)));

  const shown = isFinished(run) ? ["done", "failed", "stopped", "not_run"] : ["pending", "running", "waiting", "done", "failed"];
  const legend = h("ul", { class: "legend", "aria-label": "Legend" },
    shown.map((s) => h("li", {}, h("span", { class: `swatch g-${s}` }), LEGEND[s])),
    h("li", {}, h("span", { class: "swatch-dot" }), "one dot per repository"),
    h("li", {}, h("span", { class: "swatch-attempts" }, "×2"), "attempts"));
  // Never narrower than keeps the labels at MIN_LABEL_PX: below that the box scrolls instead.
  svg.style.maxWidth = `${plan.width}px`;
  svg.style.minWidth = `${Math.ceil((plan.width * MIN_LABEL_PX) / LABEL_PX)}px`;
  const box = h("div", { class: "graph-scroll", tabindex: 0, role: "group", "aria-label": "Workflow graph; scroll sideways to see all of it" }, svg);
  const figure = h("figure", { class: `graph-figure${fitToWidth ? " fit" : ""}` });
  const zoom = h("button", { type: "button", class: "btn small", id: "graph-zoom", "aria-pressed": String(fitToWidth) }, "Fit to width");
  zoom.addEventListener("click", () => {
    fitToWidth = !fitToWidth;
    figure.classList.toggle("fit", fitToWidth);
    zoom.setAttribute("aria-pressed", String(fitToWidth));
  });
  figure.append(box, h("figcaption", { class: "graph-caption" }, legend, zoom));
  return figure;
}

/** Scroll the graph's box (when it scrolls) so the step that needs attention is in view. */
export function showActive(container) {
  const box = container.querySelector(".graph-scroll");
  const node = container.querySelector(".g-node.g-waiting, .g-node.g-failed, .g-node.g-running");
  if (!box || !node || box.scrollWidth <= box.clientWidth) return;
  const at = node.getBoundingClientRect();
  const frame = box.getBoundingClientRect();
  box.scrollLeft += at.left + at.width / 2 - (frame.left + frame.width / 2);
}
