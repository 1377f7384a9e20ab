// α evolution: one small heatmap per edge (rows: ops, columns: epochs, colour: softmax weight).

import { h } from "./dom.js";

// Viridis at five stops: perceptually even, readable in greyscale.
const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

const PANEL_W = 160;
const ROW_H = 13;

/** The op names once per grid row, aligned with the heatmap rows beside them. */
function rowLabels(ops, n) {
  return h(
    "div",
    { class: "heat-panel heat-rows", "aria-hidden": "true" },
    h("div", { class: "heat-label" }, "\u00a0"),
    h("div", { class: "heat-row-names", style: `height:${n * ROW_H}px` }, Array.from({ length: n }, (_, i) => h("div", { style: `height:${ROW_H}px;line-height:${ROW_H}px` }, ops[i] ?? `op ${i}`))),
  );
}

export function colorFor(v) {
  const x = Math.max(0, Math.min(1, v)) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const t = x - i;
  const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Mixing weights: rows already on the simplex are kept, raw logits are softmaxed. */
function toWeights(row) {
  const sum = row.reduce((a, b) => a + b, 0);
  if (row.every((v) => v >= 0) && Math.abs(sum - 1) < 1e-3) return row;
  const m = Math.max(...row);
  const ex = row.map((v) => Math.exp(v - m));
  const z = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / z);
}

/** A DARTS cell input as plain text ("c_k−2"): no TeX, readable in a tooltip or a label. */
export const inputText = (offset) => (offset ? `c_k−${offset}` : "c_k");

/** The same with its subscript as markup: c<sub>k−2</sub>. */
function inputMarkup(offset) {
  return [h("span", null, "c"), h("sub", null, offset ? `k−${offset}` : "k")];
}

/** An edge label ("0←c_k−2") with each cell input's subscript set as a subscript. */
function labelMarkup(label) {
  return label.split(/(c_k(?:−\d)?)/).filter(Boolean).map((part) => {
    const m = /^c_k(?:−(\d))?$/.exec(part);
    return m ? inputMarkup(m[1] ? Number(m[1]) : 0) : part;
  });
}

/** Weights that span less than this part of the [0, 1] scale are one colour on it: stretched. */
export const AUTO_STRETCH_BELOW = 0.05;

export function edgeLabels(group, count) {
  if (group === "cell" && count === 6) return ["1←0", "2←0", "2←1", "3←0", "3←1", "3←2"];
  if ((group === "normal" || group === "reduce") && count === 14) {
    const name = (j) => (j === 0 ? inputText(2) : j === 1 ? inputText(1) : String(j - 2));
    const out = [];
    for (let n = 0; n < 4; n++) for (let j = 0; j < n + 2; j++) out.push(`${n}←${name(j)}`);
    return out;
  }
  return Array.from({ length: count }, (_, i) => `edge ${i}`);
}

/**
 * The α panel: per group, a grid of per-edge heatmaps with a shared op key and colour bar.
 * Colours span the fixed weight scale [0, 1], so a near-uniform α looks near-uniform; `stretch`
 * spans the group's observed range instead, to see small differences. A group whose weights all
 * lie within AUTO_STRETCH_BELOW of each other (early epochs, a small α learning rate) would be one
 * solid colour on the fixed scale, so it is stretched automatically; the key says which scale.
 */
export function alphaHeatmaps(rows, ops, { stretch = false } = {}) {
  const root = h("div", { class: "alpha-maps" });
  if (!rows.length) {
    root.append(h("p", { class: "empty" }, "No α recorded yet: it appears after the first epoch."));
    return root;
  }
  const groups = Object.keys(rows[rows.length - 1].alphas).filter((g) => g !== "betas" && g !== "beta");
  const tip = h("div", { class: "heat-tip", role: "tooltip", hidden: true });
  for (const g of groups) {
    const last = rows[rows.length - 1].alphas[g];
    if (!Array.isArray(last) || !Array.isArray(last[0])) continue;
    const all = rows.flatMap((r) => (Array.isArray(r.alphas[g]) ? r.alphas[g].flatMap((edge) => toWeights(edge)) : []));
    const observed = [Math.min(...all), Math.max(...all)];
    const scale = stretch ? "stretched" : observed[1] - observed[0] < AUTO_STRETCH_BELOW ? "auto" : "fixed";
    const range = scale === "fixed" ? [0, 1] : observed;
    if (range[1] - range[0] < 1e-6) range[1] = range[0] + 1e-6;
    const keyText = {
      fixed: ["weight 0", "1"],
      stretched: [`stretched: weight ${range[0].toFixed(3)}`, range[1].toFixed(3)],
      auto: [`auto-stretched (every weight within ${(observed[1] - observed[0]).toFixed(3)}): weight ${range[0].toFixed(3)}`, range[1].toFixed(3)],
    }[scale];
    const labels = edgeLabels(g, last.length);
    const grid = h("div", { class: "heat-grid", "data-group": g });
    // One line per target node (its incoming edges), each starting with the op names of the rows.
    let line = null;
    let lineTarget = null;
    for (let e = 0; e < last.length; e++) {
      const target = labels[e].split("←")[0];
      if (!line || target !== lineTarget) {
        line = h("div", { class: "heat-line" }, rowLabels(ops, Math.max(ops.length, last[e].length)));
        grid.append(line);
        lineTarget = target;
      }
      const series = rows.map((r) => (Array.isArray(r.alphas[g]?.[e]) ? toWeights(r.alphas[g][e]) : null));
      line.append(edgePanel(labels[e], series, rows.map((r) => r.epoch), ops, tip, range));
    }
    const title = groups.length > 1 || g !== "cell" ? `${g} cell` : "";
    root.append(
      h(
        "div",
        { class: "alpha-key" },
        title ? h("h4", { class: "sub" }, title) : null,
        h(
          "span",
          {
            class: "colorbar-label",
            "data-scale": scale,
            title: scale === "auto" ? `On the fixed 0–1 scale these weights would be one colour; the colours span ${range[0].toFixed(4)}–${range[1].toFixed(4)} instead.` : null,
          },
          keyText[0],
        ),
        h("span", { class: "colorbar", "aria-hidden": "true" }),
        h("span", { class: "colorbar-label" }, keyText[1]),
        h("span", { class: "muted" }, `· columns: epochs ${rows[0].epoch}–${rows[rows.length - 1].epoch}, left to right · hover for values`),
      ),
      grid,
    );
  }
  root.append(tip);
  return root;
}

function edgePanel(label, series, epochs, ops, tip, [lo, hi]) {
  const nOps = Math.max(...series.filter(Boolean).map((r) => r.length), ops.length);
  const cssW = PANEL_W;
  const rowH = ROW_H;
  const cssH = nOps * rowH;
  const dpr = window.devicePixelRatio || 1;
  const canvas = h("canvas", { class: "heat", width: Math.round(cssW * dpr), height: Math.round(cssH * dpr) });
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const colW = cssW / series.length;
  series.forEach((w, c) => {
    for (let r = 0; r < nOps; r++) {
      ctx.fillStyle = w ? colorFor(((w[r] ?? 0) - lo) / (hi - lo)) : "#f3f4f6";
      ctx.fillRect(c * colW, r * rowH, Math.ceil(colW), rowH);
    }
  });
  const final = series[series.length - 1];
  const top = final ? final.indexOf(Math.max(...final)) : -1;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `α of edge ${label}: strongest op now ${ops[top] ?? "?"}`);
  canvas.addEventListener("mousemove", (ev) => {
    const rect = canvas.getBoundingClientRect();
    const c = Math.min(series.length - 1, Math.floor(((ev.clientX - rect.left) / rect.width) * series.length));
    const r = Math.min(nOps - 1, Math.floor(((ev.clientY - rect.top) / rect.height) * nOps));
    const w = series[c];
    tip.textContent = `${label} · ${ops[r] ?? `op ${r}`} · epoch ${epochs[c]}: ${w ? w[r].toFixed(3) : "–"}`;
    tip.hidden = false;
    tip.style.left = `${ev.clientX + 12}px`;
    tip.style.top = `${ev.clientY + 12}px`;
  });
  canvas.addEventListener("mouseleave", () => (tip.hidden = true));
  // Epoch numbers under the columns: every one when they fit, else every k-th and the last.
  const every = Math.max(1, Math.ceil(14 / colW));
  const epochRow = h(
    "div",
    { class: "heat-epochs", "aria-hidden": "true" },
    epochs.map((ep, c) => h("span", { style: `width:${colW}px` }, c % every === 0 || c === epochs.length - 1 ? String(ep) : "")),
  );
  return h(
    "div",
    { class: "heat-panel" },
    h("div", { class: "heat-label", title: label }, labelMarkup(label)),
    canvas,
    epochRow,
    h("div", { class: "heat-top", title: "strongest op at the latest epoch" }, ops[top] ?? ""),
  );
}
