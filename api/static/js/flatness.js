// Flatness panels: per-epoch metrics as charts, end-of-search neighbourhood profile and cell shape.
// Record shape (docs/architecture.md): {kind, epoch|null, params, value, seconds}; values are JSON whose exact
// form depends on the metric, so they are read generically (a number, or an object of numbers).

import { h, fmtNum, fmtDuration } from "./dom.js";
import { lineChart, PALETTE } from "./charts.js";
import { endMetrics, epochMetrics, isSampling, metricInfo } from "./catalog.js";

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

/**
 * Why a metric has no record, in words: switched off in the spec, not applicable to the method,
 * needing two metric epochs, waiting for its epoch, or the search ended before it.
 */
export function absentReason(kind, { spec = {}, status = "", running = false } = {}) {
  const f = spec.flatness || {};
  const info = metricInfo(kind);
  const flag = info?.switch ?? kind;
  if (f[flag] === false) return `not computed: switched off in the spec (flatness.${flag}: false)`;
  if (isSampling(spec.method)) return `not computed: ${spec.method} samples architectures and has no α to measure`;
  if (status === "failed") return "not computed: the search failed before reaching it";
  if (status === "cancelled") return "not computed: the search was cancelled before reaching it";
  const epochs = spec.epochs, interval = f.interval;
  const needs = info?.min_metric_epochs ?? 1;
  if (needs > 1 && epochs && interval) {
    const metricEpochs = Math.floor(epochs / interval) + (epochs % interval ? 1 : 0);
    if (metricEpochs < needs) return `not computed: it needs ${needs} metric epochs, and ${epochs} epochs at flatness.interval ${interval} give ${metricEpochs}`;
  }
  if (running) {
    if (info?.phase === "end") return "computed at the end of the search";
    if (interval === 1) return "computed at the end of every epoch; not yet";
    return interval ? `computed every ${interval} epochs and at the last one; not yet` : "not computed yet";
  }
  return "not computed for this search";
}

export function flatnessPanels(records, { running = false, spec = {}, status = "" } = {}) {
  const charts = [];
  const root = h("div", { class: "flatness" });
  const grid = h("div", { class: "flat-grid" });
  root.append(grid);
  const why = (kind) => absentReason(kind, { spec, status, running });

  const epochKinds = epochMetrics();
  for (const [kind, title] of epochKinds) {
    const recs = records.filter((r) => r.kind === kind && r.epoch !== null && r.epoch !== undefined).sort((a, b) => a.epoch - b.epoch);
    if (!recs.length) {
      grid.append(notYet(title, why(kind)));
      continue;
    }
    const names = [...new Set(recs.flatMap((r) => Object.keys(scalarsOf(r.value))))];
    const xs = recs.map((r) => r.epoch);
    const data = [xs, ...names.map((n) => recs.map((r) => scalarsOf(r.value)[n] ?? null))];
    const box = h("div", { class: "flat-chart", "data-kind": kind });
    grid.append(box);
    const cost = recs.reduce((a, r) => a + (r.seconds || 0), 0);
    charts.push(() => {
      const ys = data.slice(1).flat().filter((v) => typeof v === "number");
      const c = lineChart(box, {
        title,
        series: names.map((n, i) => ({ label: n === "value" ? kind : n, color: PALETTE[i % PALETTE.length] })),
        data,
        height: 170,
        // Counts are small integers: start at zero with a little headroom instead of uPlot's auto range.
        yRange: metricInfo(kind)?.count ? [0, Math.max(2, ...ys) + 1] : null,
        // The epochs computed, half an epoch either side: one metric epoch is a dot mid-chart,
        // not a dot at the edge of an axis spanning the whole search.
        xRange: [Math.min(...xs) - 0.5, Math.max(...xs) + 0.5],
      });
      const last = recs[recs.length - 1];
      const lastValue = Object.values(scalarsOf(last.value))[0];
      const latest = typeof lastValue === "number" ? `epoch ${last.epoch}: ${fmtNum(lastValue, 4)} · ` : "";
      box.append(h("p", { class: "muted small", "data-latest": "" }, `${latest}computed ${recs.length}× · ${fmtDuration(cost)} total`));
      // An eigenvalue estimate carries its residual: say whether it converged, and what a sign means.
      if (typeof residualOf(last) === "number") box.append(...hessianNotes(last, lastValue));
      return c;
    });
  }

  // End-of-search records, drawn by their shape: one row per radius is a table, else tiles.
  const endKinds = endMetrics();
  for (const [kind, title] of endKinds) {
    const recs = records.filter((r) => r.kind === kind);
    if (!recs.length) grid.append(notYet(title, why(kind)));
    else if (recs.some(isPerRadius)) grid.append(neighbourhoodPanel(recs, kind, title));
    else grid.append(shapePanel(recs[recs.length - 1], kind, title));
  }

  const known = new Set([...epochKinds, ...endKinds].map((k) => k[0]));
  const others = records.filter((r) => !known.has(r.kind));
  if (others.length) {
    root.append(
      h(
        "details",
        { class: "other-metrics" },
        h("summary", null, `Other metrics (${others.length})`),
        h("pre", null, others.map((r) => `${r.kind}${r.epoch != null ? ` @${r.epoch}` : ""}: ${JSON.stringify(r.value)}`).join("\n")),
      ),
    );
  }
  // Charts need their box in the document to know its width: the caller mounts then draws.
  return { root, draw: () => charts.map((make) => make()) };
}

const residualOf = (rec) => rec.residual ?? rec.params?.residual;

/**
 * The latest Hessian estimate's residual ‖Hv − λv‖/|λ| (an unconverged one flagged: the API's `converged`,
 * residual > 0.1) and, for a negative value, what it means.
 */
export function hessianNotes(rec, value) {
  const notes = [];
  const residual = residualOf(rec);
  const method = rec.params?.method ?? "power";
  if (typeof residual === "number") {
    const converged = rec.converged ?? residual <= 0.1;
    const text = converged
      ? `residual ${fmtNum(residual, 2)} (converged, ${method})`
      : `residual ${fmtNum(residual, 2)}: not converged, the value may be far from any eigenvalue; raise flatness.power_iterations`;
    notes.push(h("p", { class: converged ? "muted small" : "small warning-box", "data-residual": "", "data-converged": String(converged) }, text));
  }
  if (typeof value === "number" && value < 0) {
    const meaning = method === "lanczos"
      ? "Negative: even the largest curvature is negative, so L_val is concave in every α direction here (α sits on a ridge or near a maximum, not in a minimum); it is not flatter than 0."
      : "Negative: the strongest curvature is concave (a saddle in α); power iteration reports the largest magnitude, not the largest eigenvalue, so it is not flatter than 0.";
    notes.push(h("p", { class: "small", "data-negative": "" }, meaning));
  }
  return notes;
}

/** "on demand: best genotype (epoch 3)" for rows a neighbourhood job stored; null for the search's own. */
function onDemandLabel(rec) {
  const p = rec.params || {};
  if (p.source !== "on_demand") return null;
  const which = p.which ? `${p.which} genotype` : "genotype";
  const epoch = typeof p.genotype_epoch === "number" ? ` (epoch ${p.genotype_epoch})` : "";
  return `on demand: ${which}${epoch}`;
}

// A profile by radius (neighbourhood): one record per radius, each value naming its radius.
const isPerRadius = (r) => Boolean(r.value && typeof r.value === "object" && !Array.isArray(r.value) && "radius" in r.value);

/**
 * Neighbourhood profile: one record per radius, value {radius, evaluated, centre: {acc, loss},
 * acc: {mean, min, max, std}, loss: {...}, acc_drop_mean, acc_drop_max, loss_rise_mean, ...}.
 * The end-of-search rows and each on-demand job's rows (params.source "on_demand", one genotype
 * each) are separate tables. Unknown shapes fall back to their JSON.
 */
function neighbourhoodPanel(recs, kind, title) {
  const panel = h("div", { class: "flat-table", "data-kind": kind }, h("h4", { class: "chart-title" }, title));
  const groups = new Map();
  for (const r of recs) {
    const label = onDemandLabel(r);
    const key = label ?? "";
    if (!groups.has(key)) groups.set(key, { label, recs: [] });
    groups.get(key).recs.push(r);
  }
  const ordered = [...groups.values()].sort((a, b) => (a.label === null ? -1 : b.label === null ? 1 : a.label.localeCompare(b.label)));
  for (const g of ordered) panel.append(neighbourhoodGroup(g.recs, g.label, ordered.length > 1));
  return panel;
}

function neighbourhoodGroup(recs, label, titled) {
  const box = h("div", { class: "nb-group", "data-source": label ? "on_demand" : "search" });
  if (label || titled) box.append(h("h5", { class: "nb-title" }, label ?? "end of search: final genotype"));
  // One row per radius; a repeated job replaced its own rows, but keep the newest if two remain.
  const byRadius = new Map();
  for (const r of recs) {
    if (!r.value || typeof r.value !== "object" || Array.isArray(r.value)) continue;
    byRadius.set(r.value.radius ?? r.params?.radius ?? "?", { radius: r.value.radius ?? r.params?.radius ?? "?", v: r.value, seconds: r.seconds });
  }
  const rows = [...byRadius.values()].sort((a, b) => a.radius - b.radius);
  if (!rows.length) {
    box.append(h("pre", null, recs.map((r) => JSON.stringify(r.value)).join("\n")));
    return box;
  }
  const stat = (o, k) => (o && typeof o === "object" ? o[k] : undefined);
  // Accuracies are stored as fractions; every accuracy column shows percent (drops in points).
  const pct = (x) => (typeof x === "number" ? `${fmtNum(100 * x, 3)}` : undefined);
  const cols = [
    ["neighbours", (v) => v.evaluated],
    ["mean acc (%)", (v) => pct(stat(v.acc, "mean"))],
    ["± std (pp)", (v) => pct(stat(v.acc, "std"))],
    ["min acc (%)", (v) => pct(stat(v.acc, "min"))],
    ["acc drop, mean / max (pp)", (v) => (v.acc_drop_mean === undefined ? undefined : `${pct(v.acc_drop_mean)} / ${pct(v.acc_drop_max)}`)],
    ["loss rise, mean (cross-entropy)", (v) => v.loss_rise_mean],
  ];
  box.append(
    h(
      "table",
      { class: "compact" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "radius"), cols.map(([c]) => h("th", { scope: "col", class: "num" }, c)))),
      h("tbody", null, rows.map(({ radius, v }) => h("tr", { "data-radius": String(radius) }, h("th", { scope: "row" }, String(radius)), cols.map(([, f]) => h("td", { class: "num" }, typeof f(v) === "string" ? f(v) : fmtNum(f(v), 3)))))),
    ),
  );
  const centre = rows[0].v.centre;
  const cost = rows.reduce((a, r) => a + (r.seconds || 0), 0);
  const centreText = centre && typeof centre === "object" ? `architecture itself: acc ${pct(centre.acc)} %, loss ${fmtNum(centre.loss, 3)} · ` : "";
  box.append(h("p", { class: "muted small" }, `${centreText}${fmtDuration(cost)} to compute`));
  return box;
}

function tileLabel(key, C) {
  const k = key.replace(/^cell /, "");
  if (k.endsWith("width_c")) return `${k.slice(0, -7)}width / C`;
  return k.replaceAll("_", " ") + (C && k.endsWith("width") ? ` (C=${C})` : "");
}

function shapePanel(rec, kind, title) {
  const tiles = [];
  const walk = (prefix, val) => {
    if (typeof val === "number") tiles.push([prefix, val]);
    else if (val && typeof val === "object") for (const [k, x] of Object.entries(val)) walk(prefix ? `${prefix} ${k}` : k, x);
  };
  walk("", rec.value);
  const C = rec.params?.C;
  const origin = onDemandLabel(rec);
  const panel = h("div", { class: "flat-tiles", "data-kind": kind }, h("h4", { class: "chart-title" }, title), origin ? h("p", { class: "muted small" }, origin) : null);
  panel.append(
    h(
      "div",
      { class: "tiles" },
      tiles.map(([k, v]) =>
        h("div", { class: "tile" }, h("div", { class: "tile-value" }, fmtNum(v, 3)), h("div", { class: "tile-label" }, tileLabel(k, C))),
      ),
    ),
  );
  return panel;
}
