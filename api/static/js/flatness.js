// Flatness panels: per-epoch metrics as charts, end-of-search neighbourhood profile and cell shape.
// Record shape (DESIGN.md): {kind, epoch|null, params, value, seconds}; values are JSON whose exact
// form depends on the metric, so they are read generically (a number, or an object of numbers).

import { h, fmtNum, fmtDuration } from "./dom.js";
import { lineChart, PALETTE } from "./charts.js";

const EPOCH_KINDS = [
  ["hessian_eigenvalue", "Dominant eigenvalue of ∇²α L_val"],
  ["a2m_sharpness", "A2M sharpness L(α+ρĝ) − L(α)"],
  ["skip_count", "skip_connect count"],
  ["alpha_entropy", "α entropy (mean over edges)"],
];
const NEIGHBOURHOOD_KINDS = ["neighbourhood", "neighbourhood_profile", "neighborhood"];
const SHAPE_KINDS = ["cell_shape", "cell_width_depth"];

/** {name: number} from a metric value: a number, an array (mean), or an object's numeric fields. */
export function scalarsOf(value) {
  if (typeof value === "number") return { value };
  if (Array.isArray(value)) {
    const nums = value.filter((v) => typeof v === "number");
    return nums.length ? { mean: nums.reduce((a, b) => a + b, 0) / nums.length } : {};
  }
  if (value && typeof value === "object") {
    for (const k of ["value", "eigenvalue", "mean", "sharpness", "count", "total"]) {
      if (typeof value[k] === "number") return { value: value[k] };
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "number" && k !== "seconds") out[k] = v;
      else if (Array.isArray(v) && v.length && v.every((x) => typeof x === "number") && k.includes("mean"))
        out[k] = v.reduce((a, b) => a + b, 0) / v.length;
    }
    return out;
  }
  return {};
}

function notYet(title, note = "not computed yet") {
  return h("div", { class: "panel-empty", "data-kind": title }, h("h4", { class: "chart-title" }, title), h("p", { class: "empty" }, note));
}

export function flatnessPanels(records, { running = false } = {}) {
  const charts = [];
  const root = h("div", { class: "flatness" });
  const grid = h("div", { class: "flat-grid" });
  root.append(grid);
  const whenAbsent = running ? "not computed yet" : "not computed for this search";

  for (const [kind, title] of EPOCH_KINDS) {
    const recs = records.filter((r) => r.kind === kind && r.epoch !== null && r.epoch !== undefined).sort((a, b) => a.epoch - b.epoch);
    if (!recs.length) {
      grid.append(notYet(title, whenAbsent));
      continue;
    }
    const names = [...new Set(recs.flatMap((r) => Object.keys(scalarsOf(r.value))))];
    const xs = recs.map((r) => r.epoch + 1);
    const data = [xs, ...names.map((n) => recs.map((r) => scalarsOf(r.value)[n] ?? null))];
    const box = h("div", { class: "flat-chart", "data-kind": kind });
    grid.append(box);
    const cost = recs.reduce((a, r) => a + (r.seconds || 0), 0);
    charts.push(() => {
      const c = lineChart(box, {
        title,
        series: names.map((n, i) => ({ label: n === "value" ? kind : n, color: PALETTE[i % PALETTE.length] })),
        data,
        height: 170,
      });
      box.append(h("p", { class: "muted small" }, `computed ${recs.length}× · ${fmtDuration(cost)} total`));
      return c;
    });
  }

  const nb = records.filter((r) => NEIGHBOURHOOD_KINDS.includes(r.kind));
  grid.append(nb.length ? neighbourhoodPanel(nb[nb.length - 1]) : notYet("Neighbourhood profile", whenAbsent));
  const shape = records.filter((r) => SHAPE_KINDS.includes(r.kind));
  grid.append(shape.length ? shapePanel(shape[shape.length - 1]) : notYet("Cell width / depth", whenAbsent));

  const known = new Set([...EPOCH_KINDS.map((k) => k[0]), ...NEIGHBOURHOOD_KINDS, ...SHAPE_KINDS]);
  const others = records.filter((r) => !known.has(r.kind));
  if (others.length) {
    root.append(
      h(
        "details",
        { class: "other-metrics" },
        h("summary", null, `Other metrics (${others.length})`),
        h("pre", null, others.map((r) => `${r.kind}${r.epoch != null ? ` @${r.epoch + 1}` : ""}: ${JSON.stringify(r.value)}`).join("\n")),
      ),
    );
  }
  // Charts need their box in the document to know its width: the caller mounts then draws.
  return { root, draw: () => charts.map((make) => make()) };
}

function neighbourhoodPanel(rec) {
  const v = rec.value;
  let rows = [];
  if (Array.isArray(v)) rows = v.filter((x) => x && typeof x === "object").map((x, i) => [x.radius ?? i + 1, x]);
  else if (v && typeof v === "object") {
    const src = v.radii && typeof v.radii === "object" && !Array.isArray(v.radii) ? v.radii : v;
    rows = Object.entries(src).filter(([, x]) => x && typeof x === "object" && !Array.isArray(x));
  }
  const panel = h("div", { class: "flat-table", "data-kind": "neighbourhood" }, h("h4", { class: "chart-title" }, "Neighbourhood profile"));
  if (!rows.length) {
    panel.append(h("pre", null, JSON.stringify(v, null, 1)));
    return panel;
  }
  const cols = [...new Set(rows.flatMap(([, x]) => Object.keys(x).filter((k) => typeof x[k] === "number" && k !== "radius")))];
  panel.append(
    h(
      "table",
      { class: "compact" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "radius"), cols.map((c) => h("th", { scope: "col" }, c.replaceAll("_", " "))))),
      h("tbody", null, rows.map(([r, x]) => h("tr", null, h("th", { scope: "row" }, String(r).replace(/^radius_?/, "")), cols.map((c) => h("td", null, fmtNum(x[c], 4)))))),
    ),
  );
  const center = v && typeof v === "object" && !Array.isArray(v) ? (v.center ?? v.self ?? v.base) : null;
  if (center !== null && center !== undefined) panel.append(h("p", { class: "muted small" }, `architecture itself: ${JSON.stringify(center)}`));
  panel.append(h("p", { class: "muted small" }, `${fmtDuration(rec.seconds)} to compute`));
  return panel;
}

function shapePanel(rec) {
  const tiles = [];
  const walk = (prefix, val) => {
    if (typeof val === "number") tiles.push([prefix, val]);
    else if (val && typeof val === "object") for (const [k, x] of Object.entries(val)) walk(prefix ? `${prefix} ${k}` : k, x);
  };
  walk("", rec.value);
  const panel = h("div", { class: "flat-tiles", "data-kind": "cell_shape" }, h("h4", { class: "chart-title" }, "Cell width / depth"));
  panel.append(
    h(
      "div",
      { class: "tiles" },
      tiles.map(([k, v]) =>
        h("div", { class: "tile" }, h("div", { class: "tile-value" }, fmtNum(v, 3)), h("div", { class: "tile-label" }, k.replaceAll("_", " "))),
      ),
    ),
  );
  return panel;
}
