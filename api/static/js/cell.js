// Genotypes drawn as cell diagrams in SVG: nodes and op-labelled edges. The layout follows the
// space's `cell_kind` in the catalog (GET /catalog), never its name:
//
// "edges" (NAS-Bench-201-like): one op edge per node pair on fixed nodes, drawn on a line, edge
//   i->j for every j>i ("none" drawn faint); node labels from the catalog.
// "nodes" (DARTS-like): per cell, inputs c_k−2 and c_k−1 (drawn as c with a subscript),
//   intermediate nodes that each pick two inputs, placed in columns by their depth (longest path
//   from an input), and c_k collecting the concatenated nodes.

import { h, s } from "./dom.js";
import { spaceInfo, catalogSpaces } from "./catalog.js";

// Ops are coloured by their place in the space's op vocabulary (the catalog's op sets), never by
// their names, so a new space's ops get colours with no change here. "none", the zero op any space
// may offer, is drawn faint: an edge that is absent.
const NONE_OP = "none";
const NONE_COLOR = "#9ca3af";
const OP_PALETTE = ["#d97706", "#0891b2", "#2563eb", "#16a34a", "#9333ea", "#0d9488", "#4338ca", "#c026d3", "#dc2626", "#65a30d"];

/** The space's ops in a stable order, "none" aside: its default set, then any op only another variant has. */
function opVocabulary(space) {
  const variants = spaceInfo(space)?.ops_variants || {};
  const ordered = [...(variants.default || []), ...Object.values(variants).flat()];
  return [...new Set(ordered)].filter((op) => op !== NONE_OP);
}

/** An op's colour in `space`: the palette by its index in the space's ops; past the palette, or for
 * an op the catalog does not list, a hue spread by the golden angle (from its index or a hash). */
export function opColor(op, space) {
  if (op === NONE_OP) return NONE_COLOR;
  const i = opVocabulary(space).indexOf(op);
  if (i >= 0 && i < OP_PALETTE.length) return OP_PALETTE[i];
  let n = i;
  if (n < 0) for (const ch of String(op)) n = (Math.abs(n) * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${Math.round((n * 137.508) % 360)} 60% 42%)`;
}

// Short labels keep a "nodes" cell (up to 8 labelled edges in a small figure) readable; the full
// name is in each edge's tooltip and in the legend. "sep_conv_3x3" -> "sep3", "skip_connect" ->
// "skip"; an op whose short form another op of the space shares keeps its full name.
const abbreviate = (op) => {
  const parts = String(op).split("_");
  const size = /^(\d+)x\d+$/.exec(parts[parts.length - 1]);
  return size && parts.length > 1 ? `${parts[0]}${size[1]}` : parts[0];
};

/** op -> its short label, for the space's ops and any others drawn with them. */
function shortLabels(space, ops) {
  const all = [...new Set([...opVocabulary(space), ...ops])];
  const counts = new Map();
  for (const op of all) counts.set(abbreviate(op), (counts.get(abbreviate(op)) || 0) + 1);
  return new Map(all.map((op) => [op, counts.get(abbreviate(op)) > 1 ? op : abbreviate(op)]));
}

// A space's groups (cells), cell kind and each edge's target node come from the catalog; a body
// of a space the catalog does not know is read by its shape: one [op, source] per cell edge
// (`edges`) or two [op, input] pairs per intermediate node and cell.
const targetsOf = (space) => (spaceInfo(space)?.cell_edges || []).map(([target]) => target);
const hasEdgeList = (body) => Array.isArray(body?.edges);

/** "edges" or "nodes": the catalog's word for the genotype's space, else the body's shape. */
function cellKindOf(doc) {
  const known = spaceInfo(spaceOfGenotype(doc))?.cell_kind;
  if (known) return known;
  return hasEdgeList(bodyOf(doc)) ? "edges" : "nodes";
}

/** The cells a genotype draws: the space's α groups, or what its body holds when unknown. */
function groupsOf(doc) {
  const known = spaceInfo(spaceOfGenotype(doc))?.groups;
  if (known?.length) return known;
  const body = bodyOf(doc);
  return hasEdgeList(body) ? ["cell"] : ["normal", "reduce"];
}
const NODE_R = 17;

/** The genotype body inside the genotype JSON document (docs/architecture.md) ({space, ops, genotype: {...}}), tolerant of nesting. */
function bodyOf(doc) {
  if (!doc) return null;
  if (doc.genotype && typeof doc.genotype === "object" && !Array.isArray(doc.genotype)) return doc.genotype;
  return doc;
}

/** The genotype's space: its `space` field, else the first catalogued space of the body's shape. */
export function spaceOfGenotype(doc) {
  if (doc?.space) return doc.space;
  const kind = hasEdgeList(bodyOf(doc)) ? "edges" : "nodes";
  return catalogSpaces().find((sp) => sp.cell_kind === kind)?.name ?? kind;
}

/** Edges of one cell as {key, op, from, to} with from/to node ids ("0".."3", "k-2", "k-1", "out"). */
export function cellEdges(doc, group) {
  const body = bodyOf(doc);
  if (!body) return [];
  if (cellKindOf(doc) === "edges") {
    const targets = targetsOf(spaceOfGenotype(doc));
    return body.edges.map(([op, src], i) => ({
      key: `${group}:${i}`,
      op,
      from: String(src),
      to: String(targets[i] ?? i + 1),
    }));
  }
  const pairs = Array.isArray(body[group]) ? body[group] : [];
  return pairs.map(([op, input], i) => ({
    key: `${group}:${Math.floor(i / 2)}:${i % 2}`,
    op,
    from: dartsNodeId(input),
    to: String(Math.floor(i / 2)),
  }));
}

const dartsNodeId = (input) => (input === 0 ? "k-2" : input === 1 ? "k-1" : String(input - 2));

/**
 * Keys of `doc`'s edges that differ from `ref`'s (same space). "edges" cells: op changed on the
 * same edge. "nodes" cells: an (op, input) pair absent from the reference node's two inputs (their
 * order is arbitrary).
 */
export function differingEdges(doc, ref) {
  const out = new Set();
  if (!doc || !ref || spaceOfGenotype(doc) !== spaceOfGenotype(ref)) return out;
  const edgeList = cellKindOf(doc) === "edges";
  for (const g of groupsOf(doc)) {
    const mine = cellEdges(doc, g);
    const theirs = cellEdges(ref, g);
    if (edgeList) {
      mine.forEach((e, i) => {
        if (!theirs[i] || theirs[i].op !== e.op) out.add(e.key);
      });
      continue;
    }
    const pool = new Map();
    for (const e of theirs) {
      const k = `${e.to}|${e.from}|${e.op}`;
      pool.set(k, (pool.get(k) || 0) + 1);
    }
    for (const e of mine) {
      const k = `${e.to}|${e.from}|${e.op}`;
      if (pool.get(k)) pool.set(k, pool.get(k) - 1);
      else out.add(e.key);
    }
  }
  return out;
}

/** A figure with one SVG per cell (and a legend of the ops drawn), or a note when there is none. */
export function genotypeFigure(doc, { title = "", diff = new Set(), idPrefix = "g" } = {}) {
  const fig = h("figure", { class: "genotype" });
  if (title) fig.append(h("figcaption", { class: "genotype-title" }, title));
  const body = bodyOf(doc);
  if (!body || (!body.edges && !body.normal)) {
    fig.append(h("p", { class: "empty" }, "No genotype yet."));
    return fig;
  }
  const space = spaceOfGenotype(doc);
  const info = spaceInfo(space);
  const groups = groupsOf(doc);
  const pairs = cellKindOf(doc) === "nodes";
  const inner = innerNodes(space);
  const cells = h("div", { class: "cells" });
  const opsUsed = new Set(groups.flatMap((g) => cellEdges(doc, g).map((e) => e.op)));
  const short = shortLabels(space, opsUsed);
  for (const g of groups) {
    const edges = cellEdges(doc, g).map((e) => ({ ...e, color: opColor(e.op, space), short: short.get(e.op) }));
    const svg =
      pairs
        ? nodesSvg(edges, inner, body[`${g}_concat`] || inner.map((n) => n + 2), diff, `${idPrefix}-${g}`)
        : edgesSvg(edges, nodeLabelsOf(space, edges), diff, `${idPrefix}-${g}`);
    svg.setAttribute("data-cell", g);
    svg.setAttribute("data-space", space);
    const label = groups.length > 1 ? `${g} cell` : `${space.toUpperCase()} cell`;
    svg.setAttribute("aria-label", `${title ? title + ": " : ""}${label}`);
    cells.append(h("div", { class: "cell" }, h("div", { class: "cell-label" }, label), svg));
  }
  fig.append(cells);
  const text = info?.text_field ? doc[info.text_field] : null;
  if (text) fig.append(h("code", { class: "arch-str", title: "architecture string" }, text));
  fig.append(legend([...opsUsed], space, diff.size > 0, pairs ? short : null));
  return fig;
}

function legend(ops, space, withDiff, short) {
  const el = h("ul", { class: "op-legend", "aria-label": "operations" });
  for (const op of ops.sort()) {
    const text = short && short.get(op) !== op ? [h("b", null, short.get(op)), ` ${op}`] : op;
    el.append(h("li", { "data-op": op }, h("span", { class: "swatch", style: `background:${opColor(op, space)}` }), text));
  }
  if (withDiff) el.append(h("li", { class: "legend-diff" }, h("span", { class: "swatch diff" }), "differs"));
  return el;
}

function markerDefs(id) {
  return s(
    "defs",
    null,
    s(
      "marker",
      // User-space units: the arrowhead keeps its size when a differing edge is drawn thicker.
      { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "11", markerHeight: "11", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "context-stroke" }),
    ),
  );
}

/** A node's label: "c" with its subscript set lower and smaller for a cell input or output
 * ("c_k−2" in plain text), the number itself for an intermediate node. */
function nodeLabelParts(label) {
  const m = /^c_(k(?:−\d)?)$/.exec(label);
  if (!m) return [label];
  return ["c", s("tspan", { class: "node-sub", "baseline-shift": "sub", "font-size": "75%" }, m[1])];
}

function nodeEl(id, x, y, label, kind) {
  return s(
    "g",
    { class: `cell-node node-${kind}`, "data-node": id, "data-label": label, transform: `translate(${x},${y})` },
    s("title", null, `node ${label}`),
    kind === "io"
      ? s("rect", { x: -30, y: -NODE_R, width: 60, height: NODE_R * 2, rx: 8 })
      : s("circle", { r: NODE_R }),
    s("text", { class: "node-label", "text-anchor": "middle", "dominant-baseline": "central" }, nodeLabelParts(label)),
  );
}

/**
 * An edge as its line group (`g.cell-edge`) and its label (`text.edge-label`, same data-key). They
 * go in separate layers so every label is painted above every line and node.
 */
function edgeEl(e, d, labelAt, markerId, diff, text = e.op) {
  const differs = diff.has(e.key);
  const isNone = e.op === NONE_OP;
  const color = e.color;
  const g = s("g", {
    class: `cell-edge${differs ? " edge-diff" : ""}${isNone ? " edge-none" : ""}`,
    "data-op": e.op,
    "data-from": e.from,
    "data-to": e.to,
    "data-key": e.key,
  });
  g.append(s("title", null, `${e.op}: ${e.from} → ${e.to}${differs ? " (differs)" : ""}`));
  if (differs) g.append(s("path", { class: "edge-halo", d }));
  g.append(
    s("path", {
      class: "edge-line",
      d,
      stroke: color,
      "marker-end": isNone ? null : `url(#${markerId})`,
    }),
  );
  const label = s(
    "text",
    {
      class: `edge-label${differs ? " label-diff" : ""}${isNone ? " label-none" : ""}`,
      "data-key": e.key,
      "data-op": e.op,
      x: labelAt[0],
      y: labelAt[1],
      "text-anchor": "middle",
      "dominant-baseline": "central",
      fill: color,
    },
    s("title", null, `${e.op}: ${e.from} → ${e.to}`),
    text,
  );
  return [g, label];
}

/** Layers in paint order: lines, then nodes, then labels. */
function layers(svg) {
  const lines = s("g", { class: "layer-edges" });
  const nodes = s("g", { class: "layer-nodes" });
  const labels = s("g", { class: "layer-labels" });
  svg.append(lines, nodes, labels);
  return {
    edge([g, label]) {
      lines.append(g);
      labels.append(label);
    },
    node: (el) => nodes.append(el),
    line: (el) => lines.append(el),
    text: (el) => labels.append(el),
  };
}

/** An "edges" cell's node labels: the catalog's, else the ids its edges use. */
function nodeLabelsOf(space, edges) {
  const known = spaceInfo(space)?.node_labels;
  if (known?.length) return known;
  const last = Math.max(1, ...edges.flatMap((e) => [Number(e.from), Number(e.to)]));
  return Array.from({ length: last + 1 }, (_, i) => String(i));
}

/** A "nodes" cell's intermediate node ids (0, 1, …): cell_edges targets 2.. less the two inputs. */
function innerNodes(space) {
  const targets = targetsOf(space);
  const count = targets.length ? Math.max(...targets) - 1 : 4;
  return Array.from({ length: count }, (_, i) => i);
}

function edgesSvg(edges, labels, diff, idPrefix) {
  const W = 600;
  const H = 290;
  const cy = 160;
  const n = labels.length;
  const xs = labels.map((_, i) => 60 + (i * 480) / Math.max(1, n - 1));
  const markerId = `${idPrefix}-arrow`;
  const svg = s("svg", { class: "cell-diagram", viewBox: `0 0 ${W} ${H}`, role: "img", "data-layout": "edges" });
  svg.append(markerDefs(markerId));
  const layer = layers(svg);
  for (const e of edges) {
    const a = Number(e.from);
    const b = Number(e.to);
    // Neighbours straight; longer edges arc, above from even sources and below from odd ones
    // (0->2 above, 1->3 below, 0->3 higher above), so their labels separate.
    const span = b - a;
    const hgt = span > 1 ? (a % 2 ? 1 : -1) * (72 + 60 * (span - 2)) : 0;
    const [x1, x2] = [xs[a], xs[b]];
    let d;
    let label;
    if (hgt === 0) {
      d = `M ${x1 + NODE_R} ${cy} L ${x2 - NODE_R - 2} ${cy}`;
      label = [(x1 + x2) / 2, cy - 12];
    } else {
      const cx = (x1 + x2) / 2;
      const ctrlY = cy + 2 * hgt;
      const [sx, sy] = towards(x1, cy, cx, ctrlY, NODE_R);
      const [ex, ey] = towards(x2, cy, cx, ctrlY, NODE_R + 2);
      d = `M ${sx} ${sy} Q ${cx} ${ctrlY} ${ex} ${ey}`;
      // Beside the arc's apex, not on it, so the line never runs through the text.
      label = [cx, 0.25 * sy + 0.5 * ctrlY + 0.25 * ey + (hgt < 0 ? -10 : 12)];
    }
    layer.edge(edgeEl(e, d, label, markerId, diff));
  }
  labels.forEach((label, i) => layer.node(nodeEl(String(i), xs[i], cy, label, "inner")));
  layer.text(s("text", { class: "node-caption", x: xs[0], y: cy + 34, "text-anchor": "middle" }, "input"));
  layer.text(s("text", { class: "node-caption", x: xs[n - 1], y: cy + 34, "text-anchor": "middle" }, "output"));
  return svg;
}

function towards(x, y, tx, ty, dist) {
  const dx = tx - x;
  const dy = ty - y;
  const n = Math.hypot(dx, dy) || 1;
  return [x + (dx / n) * dist, y + (dy / n) * dist];
}

function nodesSvg(edges, inner, concat, diff, idPrefix) {
  // Depth of each intermediate node = 1 + max depth of its inputs (inputs have depth 0).
  const depth = { "k-2": 0, "k-1": 0 };
  for (const n of inner) {
    const ins = edges.filter((e) => e.to === String(n) && e.op !== NONE_OP).map((e) => depth[e.from] ?? 0);
    depth[String(n)] = 1 + (ins.length ? Math.max(...ins) : 0);
  }
  const maxDepth = Math.max(1, ...inner.map((n) => depth[String(n)]));
  const columns = [];
  for (const [id, d] of Object.entries(depth)) (columns[d] ||= []).push(id);
  columns.push(["out"]);
  const W = 600;
  const H = 320;
  const colX = (c) => 45 + c * ((W - 90) / (maxDepth + 1));
  const pos = {};
  columns.forEach((ids, c) => {
    // Barycentre ordering: a node sits near the mean height of its inputs, which removes most crossings.
    if (c > 0 && ids[0] !== "out") {
      const bary = (id) => {
        const ys = edges.filter((e) => e.to === id && pos[e.from]).map((e) => pos[e.from][1]);
        return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : H / 2;
      };
      ids.sort((a, b) => bary(a) - bary(b));
    }
    const gap = H / (ids.length + 1);
    // A lone node alternates above and below the middle, so a chain 0->1->2->3 does not sit on one
    // line that longer edges would run straight through.
    const lone = ids.length === 1 && ids[0] !== "out" ? (c % 2 ? -1 : 1) * 42 : 0;
    ids.forEach((id, i) => (pos[id] = [colX(c), gap * (i + 1) + lone]));
  });

  const depthOf = (id) => (id === "out" ? maxDepth + 1 : depth[id]);
  const markerId = `${idPrefix}-arrow`;
  const svg = s("svg", { class: "cell-diagram", viewBox: `0 0 ${W} ${H}`, role: "img", "data-layout": "nodes" });
  svg.append(markerDefs(markerId));
  const layer = layers(svg);
  const outEdges = concat.map((idx) => String(idx - 2)).filter((id) => pos[id]);
  for (const id of outEdges) {
    const [x1, y1] = pos[id];
    const [x2, y2] = pos.out;
    layer.line(s("path", { class: "concat-edge", d: curve(x1 + NODE_R, y1, x2 - 32, y2), "marker-end": `url(#${markerId})` }));
  }
  // Labels go at the first point along their own edge where they overlap no node and no placed label.
  const boxes = Object.entries(pos).map(([id, [x, y]]) => box(x, y, id.startsWith("k") || id === "out" ? 62 : 36, 36));
  for (const e of edges) {
    const [x1, y1] = pos[e.from];
    const [x2, y2] = pos[e.to];
    const sx = x1 + (e.from.startsWith("k") ? 30 : NODE_R);
    const ex = x2 - NODE_R - 2;
    // An edge that skips columns bows away from the middle, around the nodes it passes.
    const span = depthOf(e.to) - depthOf(e.from);
    const bow = span > 1 ? Math.sign(y1 - H / 2 || 1) * 34 * (span - 1) : 0;
    const d = curve(sx, y1, ex, y2, bow);
    const text = e.short ?? e.op;
    const w = text.length * 7 + 6;
    let best = null;
    for (const t of [0.5, 0.62, 0.38, 0.74, 0.28, 0.84]) {
      const lx = bez(sx, sx + (ex - sx) / 2, ex - (ex - sx) / 2, ex, t);
      const ly = bez(y1, y1 + bow, y2 + bow, y2, t) - 7;
      const b = box(lx, ly, w, 14);
      if (!boxes.some((o) => overlaps(o, b))) {
        best = [lx, ly, b];
        break;
      }
      best ||= [lx, ly, b];
    }
    boxes.push(best[2]);
    layer.edge(edgeEl(e, d, [best[0], best[1]], markerId, diff, text));
  }
  for (const [id, [x, y]] of Object.entries(pos)) {
    const io = id.startsWith("k") || id === "out";
    const label = id === "out" ? "c_k" : io ? `c_${id.replace("-", "−")}` : id;
    layer.node(nodeEl(id, x, y, label, io ? "io" : "inner"));
  }
  return svg;
}

const box = (cx, cy, w, hgt) => ({ x0: cx - w / 2, x1: cx + w / 2, y0: cy - hgt / 2, y1: cy + hgt / 2 });
const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

function curve(x1, y1, x2, y2, bow = 0) {
  const mx = (x2 - x1) / 2;
  return `M ${x1} ${y1} C ${x1 + mx} ${y1 + bow} ${x2 - mx} ${y2 + bow} ${x2} ${y2}`;
}

function bez(p0, p1, p2, p3, t) {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}
