// A small layered layout for the workflow graph: ranks left to right, lanes top to bottom.
//
// Subgraph entry/exit pseudo-nodes ("sub:__start__", "sub:__end__") are collapsed into direct
// edges; error handlers ("handle_*") sit in lanes of their own below the path they serve, so the
// many retry edges do not cross the main path. Ranks are longest paths from __start__ once back
// edges (found depth-first) are set aside; the longest path to __end__ is lane 0, other nodes of
// a rank stack above it.

export const START = "__start__";
export const END = "__end__";

const isSide = (id) => /(^|:)handle_/.test(id);
const isPseudo = (id) => id.includes(":") && /:(__start__|__end__)$/.test(id);

/** Edges with the subgraph pseudo-nodes collapsed (a -> sub:__start__ -> b becomes a -> b). */
function collapse(edges) {
  let out = edges.map((e) => ({ ...e }));
  for (;;) {
    const pseudo = out.find((e) => isPseudo(e.source) || isPseudo(e.target));
    if (!pseudo) return out;
    const node = isPseudo(pseudo.source) ? pseudo.source : pseudo.target;
    const ins = out.filter((e) => e.target === node);
    const outs = out.filter((e) => e.source === node);
    out = out.filter((e) => e.source !== node && e.target !== node);
    for (const a of ins) {
      for (const b of outs) {
        if (!out.some((e) => e.source === a.source && e.target === b.target)) {
          out.push({ source: a.source, target: b.target, conditional: a.conditional || b.conditional });
        }
      }
    }
  }
}

/** Ranks of the main nodes (longest path over forward edges) and the set of back edges. */
function rank(ids, edges) {
  const next = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (next.has(e.source) && next.has(e.target)) next.get(e.source).push(e.target);
  const back = new Set();
  const state = new Map();
  const order = [];
  const visit = (id) => {
    state.set(id, "open");
    for (const t of next.get(id)) {
      if (state.get(t) === "open") back.add(`${id}>${t}`);
      else if (!state.has(t)) visit(t);
    }
    state.set(id, "done");
    order.push(id);
  };
  visit(START);
  for (const id of ids) if (!state.has(id)) visit(id);
  const ranks = new Map(ids.map((id) => [id, 0]));
  for (const id of order.reverse()) {
    for (const t of next.get(id)) {
      if (!back.has(`${id}>${t}`)) ranks.set(t, Math.max(ranks.get(t), ranks.get(id) + 1));
    }
  }
  return { ranks, back, next };
}

/** Positions for every node and a routed path for every edge. */
export function layout(graph, size = { w: 100, h: 58, gap: 26, lane: 78, dot: 18 }) {
  const all = graph.nodes.filter((n) => !isPseudo(n.id));
  const edges = collapse(graph.edges);
  const mainIds = all.filter((n) => !isSide(n.id)).map((n) => n.id);
  const { ranks, back, next } = rank(mainIds, edges);

  // Lane 0: walk back from __end__ along predecessors one rank lower.
  const lane = new Map();
  let cur = END;
  while (cur) {
    lane.set(cur, 0);
    const r = ranks.get(cur);
    cur = mainIds.find((id) => ranks.get(id) === r - 1 && next.get(id).includes(cur) && !lane.has(id));
  }
  const byRank = new Map();
  for (const id of mainIds) {
    const r = ranks.get(id);
    if (!byRank.has(r)) byRank.set(r, []);
    byRank.get(r).push(id);
  }
  for (const ids of byRank.values()) {
    let up = -1;
    for (const id of ids) if (!lane.has(id)) lane.set(id, up--);
  }

  const width = (id) => (id === START || id === END ? size.dot : size.w);
  const maxRank = Math.max(...ranks.values());
  const colX = [];
  let x = 16;
  for (let r = 0; r <= maxRank; r++) {
    const w = Math.max(...(byRank.get(r) || [START]).map(width));
    colX.push({ x, w });
    x += w + size.gap;
  }
  const minLane = Math.min(...lane.values());
  const arcRoom = 62;
  const laneY = (l) => arcRoom + (l - minLane) * size.lane;

  const pos = new Map();
  for (const id of mainIds) {
    const col = colX[ranks.get(id)];
    const w = width(id);
    const h = w === size.dot ? size.dot : size.h;
    const cy = laneY(lane.get(id)) + size.h / 2;
    pos.set(id, { id, x: col.x + (col.w - w) / 2, y: cy - h / 2, w, h, rank: ranks.get(id), lane: lane.get(id) });
  }

  // Side nodes: one lane per graph level (subgraph handlers first), centred under neighbours.
  const sides = all.filter((n) => isSide(n.id)).map((n) => n.id);
  sides.sort((a, b) => Number(b.includes(":")) - Number(a.includes(":")));
  sides.forEach((id, i) => {
    const near = edges.filter((e) => e.source === id || e.target === id)
      .map((e) => (e.source === id ? e.target : e.source)).filter((n) => pos.has(n));
    const xs = near.map((n) => pos.get(n).x + pos.get(n).w / 2);
    const cx = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : x / 2;
    pos.set(id, { id, x: cx - size.w / 2, y: laneY(1 + i), w: size.w, h: size.h, rank: -1, lane: 1 + i, side: true });
  });

  const routed = [];
  const seen = new Set();
  for (const e of edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b || seen.has(`${e.source}>${e.target}`)) continue;
    const twin = edges.some((o) => o.source === e.target && o.target === e.source);
    const touchesSide = a.side || b.side;
    if (twin && touchesSide) seen.add(`${e.target}>${e.source}`);
    routed.push({ ...e, both: twin && touchesSide, kind: touchesSide ? "error" : back.has(`${e.source}>${e.target}`) ? "back" : "forward", d: route(a, b, touchesSide, pos) });
  }
  const bottom = Math.max(...[...pos.values()].map((p) => p.y + p.h)) + 12;
  return { pos, edges: routed, width: x - size.gap + 16, height: bottom };
}

function blockedBelow(p, pos) {
  return [...pos.values()].some((o) => o !== p && !o.side && o.rank === p.rank && o.lane > p.lane);
}

function route(a, b, touchesSide, pos) {
  if (touchesSide) {
    const [main, side] = a.side ? [b, a] : [a, b];
    let [mx, my] = [main.x + main.w / 2, main.y + main.h];
    let dx = 0;
    if (blockedBelow(main, pos)) [mx, my, dx] = [main.x + main.w, main.y + main.h / 2, 30];
    let sx;
    let sy;
    let path;
    const far = Math.abs(mx - (side.x + side.w / 2)) > side.w;
    if (far) {
      // Far neighbours come in from the side, low enough to pass under everything in between.
      const left = mx < side.x;
      [sx, sy] = [left ? side.x : side.x + side.w, side.y + side.h / 2];
      const reach = left ? -48 : 48;
      path = (x1, y1, x2, y2, fromSide) => fromSide
        ? `M${x1},${y1} C${x1 + reach},${y1} ${x2 + dx},${y1} ${x2},${y2}`
        : `M${x1},${y1} C${x1 + dx},${y2} ${x2 + reach},${y2} ${x2},${y2}`;
    } else {
      [sx, sy] = [side.x + side.w / 2, side.y];
      path = (x1, y1, x2, y2) => {
        const bend = (y2 - y1) / 2;
        return `M${x1},${y1} C${x1 + (a.side ? 0 : dx)},${y1 + bend} ${x2 + (a.side ? dx : 0)},${y2 - bend} ${x2},${y2}`;
      };
    }
    return a.side ? path(sx, sy, mx, my, true) : path(mx, my, sx, sy, false);
  }
  if (b.rank === a.rank + 1 && Math.abs(b.lane - a.lane) <= 1) {
    const [x1, y1, x2, y2] = [a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2];
    const mid = (x2 - x1) / 2;
    return `M${x1},${y1} C${x1 + mid},${y1} ${x2 - mid},${y2} ${x2},${y2}`;
  }
  // Long forward edges and back edges arc over the nodes, higher for longer spans.
  const span = Math.abs(b.rank - a.rank);
  const top = Math.min(a.y, b.y);
  const lift = Math.min(54, 10 + span * 5);
  const [x1, x2] = [a.x + a.w / 2 + (b.rank > a.rank ? 8 : -8), b.x + b.w / 2 + (b.rank > a.rank ? -8 : 8)];
  return `M${x1},${a.y} C${x1},${top - lift} ${x2},${top - lift} ${x2},${b.y}`;
}
