// One study: state and progress, the per-cell results table (sortable), A2M on vs off side by side
// with the paired Δ and its p-values, mean ± std bands of validation accuracy per cell, a scatter
// of flatness against accuracy over every search, and links to each search.

import { get, post, download } from "../api.js";
import { h, s, clear, fmtNum, fmtDuration, errorText, toast } from "../dom.js";
import { lineChart, niceTicks, PALETTE } from "../charts.js";
import { curvesOf } from "../model.js";
import { searchUrl, navigate } from "../router.js";
import { statusBadge } from "./list.js";
import { metricInfo, isAccuracy, isSeconds, isFlatness, directionHint } from "../catalog.js";
import { studyProgress, countsText } from "./studies.js";

const REFRESH_MS = 4000;
const CURVES_EVERY = 3; // refresh the curves every third poll: one request per search
const ACTIVE_STUDY = new Set(["queued", "running"]);

const label = (values, skip = []) =>
  Object.entries(values)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "all";

// Units and directions come from the catalog's metrics (catalog.js), not from metric names.
const fmtMetric = (metric, v) => (v === null || v === undefined ? "–" : isAccuracy(metric) ? `${(v * 100).toFixed(2)}%` : isSeconds(metric) ? fmtDuration(v) : fmtNum(v, 4));
const fmtStd = (metric, v) => (v === null || v === undefined ? "" : isAccuracy(metric) ? `${(v * 100).toFixed(2)}` : isSeconds(metric) ? fmtDuration(v) : fmtNum(v, 3));

/** The supernet's final accuracy column (the second accuracy; the first is the best epoch's). */
function defaultAccuracy(metrics) {
  const accuracies = metrics.filter(isAccuracy);
  return accuracies[1] ?? accuracies[0] ?? metrics[0] ?? null;
}

/** "delta-better" / "delta-worse" for a paired Δ by the metric's direction; "" without one. */
function deltaClass(metric, mean) {
  const direction = metricInfo(metric)?.direction;
  if (!direction || !mean) return "";
  return (direction === "higher") === mean > 0 ? "delta-better" : "delta-worse";
}
const fmtP = (p) => (p === null || p === undefined ? "–" : p < 0.001 ? "<0.001" : p.toFixed(3));

function meanStd(metric, summary) {
  if (!summary || !summary.n) return h("span", { class: "muted" }, "–");
  const std = fmtStd(metric, summary.std);
  return h("span", { title: `n=${summary.n}, min ${fmtMetric(metric, summary.min)}, max ${fmtMetric(metric, summary.max)}` }, fmtMetric(metric, summary.mean), std ? h("span", { class: "muted" }, ` ± ${std}`) : null);
}

function metricSelect(name, metrics, value, onChange) {
  return h(
    "select",
    { name, "aria-label": name, onchange: (ev) => onChange(ev.target.value) },
    metrics.map((m) => h("option", { value: m, selected: m === value }, m)),
  );
}

export async function render(root, { id }) {
  const base = `/studies/${encodeURIComponent(id)}`;
  let study;
  try {
    study = await get(base);
  } catch (err) {
    root.append(h("div", { class: "card error-box" }, `Could not load study ${id}: ${errorText(err)}`));
    return () => {};
  }
  let results = null;
  let sortBy = null; // {column, dir}
  // Defaults: the last accuracy the search measures itself, and the first flatness column (the
  // results' metric order is the catalog's); each is picked when the results first arrive.
  let pairedMetric = null;
  let scatterX = null;
  let scatterY = null;
  let stopped = false;
  let timer = null;
  let polls = 0;
  let curvesChart = null;
  const cellColour = new Map();

  const head = h("div", { class: "page-head" });
  const summary = h("section", { class: "card section study-summary" });
  const cellsSection = h("section", { class: "card section" });
  const pairedSection = h("section", { class: "card section" });
  const curvesSection = h("section", { class: "card section" });
  const scatterSection = h("section", { class: "card section" });
  const childrenSection = h("section", { class: "card section" });
  root.append(h("div", { class: "page study-page" }, head, summary, cellsSection, pairedSection, curvesSection, scatterSection, childrenSection));

  const colourOf = (values) => {
    const key = label(values, ["seed"]);
    if (!cellColour.has(key)) cellColour.set(key, PALETTE[cellColour.size % PALETTE.length]);
    return cellColour.get(key);
  };

  async function act(path, verb) {
    try {
      study = await post(`${base}/${path}`);
      toast(`${verb}: ${countsText(study.counts)}`);
      drawHead();
      schedule();
    } catch (err) {
      toast(`${verb} failed: ${errorText(err)}`, "error");
    }
  }

  function drawHead() {
    clear(head);
    clear(summary);
    const active = ACTIVE_STUDY.has(study.status);
    head.append(
      h("h1", null, study.name, " ", statusBadge(study.status, study.cancel_requested)),
      h(
        "div",
        { class: "page-actions" },
        h("button", { type: "button", class: "btn", disabled: !active, onclick: () => act("cancel", "Cancelled") }, "Cancel study"),
        h("button", { type: "button", class: "btn", disabled: active || study.status === "succeeded", onclick: () => act("retry", "Retried") }, "Retry failed"),
        h("button", { type: "button", class: "btn", onclick: () => download(`${base}/results?format=csv`, `study-${id.slice(0, 8)}-cells.csv`) }, "Results CSV"),
        h("button", { type: "button", class: "btn", onclick: () => download(`${base}/results?format=csv&table=paired`, `study-${id.slice(0, 8)}-paired.csv`) }, "Paired CSV"),
      ),
    );
    summary.append(
      studyProgress(study),
      h(
        "dl",
        { class: "facts study-facts" },
        h("div", null, h("dt", null, "Searches"), h("dd", null, `${study.searches} (${countsText(study.counts)})`)),
        study.evaluate ? h("div", null, h("dt", null, "Evaluations"), h("dd", null, countsText(study.evaluation_counts) || "none started yet")) : null,
        h("div", null, h("dt", null, "ETA"), h("dd", null, study.eta_seconds === null || study.eta_seconds === undefined ? "–" : ACTIVE_STUDY.has(study.status) ? fmtDuration(study.eta_seconds) : "done")),
        h("div", null, h("dt", null, "Grid"), h("dd", null, Object.entries(study.request.grid).map(([axis, values]) => h("div", null, h("code", null, axis), ": ", values.map(String).join(", "))))),
      ),
    );
  }

  function drawCells() {
    clear(cellsSection);
    const axes = results.axes.filter((a) => a !== "seed");
    const metrics = Object.keys(results.metrics);
    const rows = [...results.cells];
    if (sortBy) {
      const value = (c) => (sortBy.column === "n" ? c.n : axes.includes(sortBy.column) ? String(c.values[sortBy.column]) : c.metrics[sortBy.column]?.mean ?? null);
      rows.sort((a, b) => {
        const va = value(a);
        const vb = value(b);
        if (va === vb) return 0;
        if (va === null) return 1;
        if (vb === null) return -1;
        return (va < vb ? -1 : 1) * sortBy.dir;
      });
    }
    const header = (column, text, title) =>
      h(
        "th",
        { scope: "col", title, "aria-sort": sortBy?.column === column ? (sortBy.dir > 0 ? "ascending" : "descending") : "none" },
        h(
          "button",
          {
            type: "button",
            class: "sort",
            "data-sort": column,
            onclick: () => {
              sortBy = { column, dir: sortBy?.column === column ? -sortBy.dir : metricInfo(column)?.direction === "higher" ? -1 : 1 };
              drawCells();
            },
          },
          text,
          sortBy?.column === column ? (sortBy.dir > 0 ? " ▲" : " ▼") : "",
        ),
      );
    cellsSection.append(
      h("h2", null, "Results per cell"),
      h("p", { class: "muted" }, "Mean ± sample std over the seeds whose search succeeded; hover for min and max. Click a header to sort."),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "compact study-cells" },
          h("thead", null, h("tr", null, h("th", null, ""), axes.map((a) => header(a, a)), header("n", "n", "searches that succeeded"), metrics.map((m) => header(m, m, results.metrics[m])))),
          h(
            "tbody",
            null,
            rows.map((c) =>
              h(
                "tr",
                { "data-cell": label(c.values) },
                h("td", null, h("span", { class: "swatch", style: `background:${colourOf(c.values)}` })),
                axes.map((a) => h("td", null, String(c.values[a]))),
                h("td", { class: "num" }, String(c.n)),
                metrics.map((m) => h("td", { class: "num", "data-metric": m }, meanStd(m, c.metrics[m]))),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function drawPaired() {
    clear(pairedSection);
    if (!results.paired.length) {
      pairedSection.append(h("h2", null, "A2M on vs off"), h("p", { class: "muted" }, "No pair of cells differs only in a2m.enabled: add \"a2m.enabled\": [true, false] to the grid to compare."));
      return;
    }
    const metrics = Object.keys(results.metrics);
    if (!metrics.includes(pairedMetric)) pairedMetric = defaultAccuracy(metrics);
    const shared = results.axes.filter((a) => a !== "seed" && a !== "a2m.enabled");
    const cellOf = (values, flag) => results.cells.find((c) => c.values["a2m.enabled"] === flag && shared.every((a) => c.values[a] === values[a]));
    pairedSection.append(
      h("h2", null, "A2M on vs off, paired by seed"),
      h("label", { class: "filter" }, h("span", null, "Metric"), metricSelect("paired-metric", metrics, pairedMetric, (m) => ((pairedMetric = m), drawPaired()))),
      h(
        "table",
        { class: "compact study-paired" },
        h("thead", null, h("tr", null, shared.map((a) => h("th", { scope: "col" }, a)), ["A2M off", "A2M on", "Δ (on − off)", "on better", "sign p", "paired t p"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          results.paired.map((p) => {
            const d = p.metrics[pairedMetric];
            // "on better" counts seeds by the metric's direction (lower eigenvalue, lower wall time,
            // higher accuracy), never by the raw sign (d.positive).
            const better = d && d.n && d.better !== null ? `${d.better}/${d.n}` : "–";
            const betterClass = d && d.n && d.better !== null ? (2 * d.better > d.n ? "delta-better" : 2 * d.better < d.n ? "delta-worse" : "") : "";
            const delta = d && d.n ? h("span", { class: deltaClass(pairedMetric, d.mean) }, `${d.mean > 0 ? "+" : ""}${fmtMetric(pairedMetric, d.mean)}`, d.std !== null ? h("span", { class: "muted" }, ` ± ${fmtStd(pairedMetric, d.std)}`) : null) : "–";
            return h(
              "tr",
              { "data-pair": label(p.values) },
              shared.map((a) => h("td", null, String(p.values[a]))),
              h("td", { class: "num" }, meanStd(pairedMetric, cellOf(p.values, false)?.metrics[pairedMetric])),
              h("td", { class: "num" }, meanStd(pairedMetric, cellOf(p.values, true)?.metrics[pairedMetric])),
              h("td", { class: "num", "data-delta": "" }, delta),
              h("td", { class: "num", "data-better": "" }, h("span", { class: betterClass }, better)),
              h("td", { class: "num" }, fmtP(d?.sign_p)),
              h("td", { class: "num" }, fmtP(d?.t_p)),
            );
          }),
        ),
      ),
      h("p", { class: "muted" }, `Δ is the mean over seeds of (A2M on − A2M off) for the same seed; "on better" counts seeds where A2M on is better by the metric's direction${directionHint(pairedMetric) ? ` (${pairedMetric}: ${directionHint(pairedMetric)})` : ""}; green is better, red worse. p-values are two-sided. Few seeds give wide intervals: read p with n.`),
    );
  }

  async function drawCurves() {
    const byCell = new Map();
    await Promise.all(
      results.children.map(async (child) => {
        let rows = [];
        try {
          rows = curvesOf(await get(`/searches/${encodeURIComponent(child.search_id)}/curves`));
        } catch {
          /* a search without curves yet adds nothing */
        }
        const key = label(child.values, ["seed"]);
        if (!byCell.has(key)) byCell.set(key, { values: child.values, runs: [] });
        byCell.get(key).runs.push(rows);
      }),
    );
    const cells = [...byCell.values()];
    const epochs = Math.max(0, ...cells.flatMap((c) => c.runs.map((r) => r.length)));
    const xs = Array.from({ length: epochs }, (_, i) => i);
    const series = [];
    const data = [xs];
    const bands = [];
    for (const cell of cells) {
      const stats = xs.map((e) => {
        const vals = cell.runs.map((r) => r[e]?.val_acc).filter((v) => typeof v === "number").map((v) => v * 100);
        if (!vals.length) return [null, null, null];
        const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
        const sd = vals.length > 1 ? Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (vals.length - 1)) : 0;
        return [mean, Math.min(100, mean + sd), Math.max(0, mean - sd)];
      });
      const colour = colourOf(cell.values);
      const at = data.length;
      series.push({ label: label(cell.values, ["seed"]), color: colour }, { label: "+std", color: `${colour}55`, width: 0.5, points: false }, { label: "-std", color: `${colour}55`, width: 0.5, points: false });
      data.push(stats.map((x) => x[0]), stats.map((x) => x[1]), stats.map((x) => x[2]));
      bands.push([at + 1, at + 2, `${colour}22`]);
    }
    if (curvesChart) {
      curvesChart.destroy();
      curvesChart = null;
    }
    clear(curvesSection);
    curvesSection.append(h("h2", null, "Validation accuracy per cell"), h("p", { class: "muted" }, "Supernet validation accuracy, mean over seeds with a ± 1 sample-std band."));
    const holder = h("div", { class: "study-curves" });
    curvesSection.append(holder);
    curvesChart = lineChart(holder, { title: "val acc (%) vs epoch", yLabel: "%", series, data, bands, height: 260 });
    // The band edges are series only so uPlot can shade between them: keep them out of the legend.
    holder.querySelectorAll(".u-legend .u-series").forEach((row, i) => {
      if (i > 0 && (i - 1) % 3 !== 0) row.hidden = true;
    });
  }

  function drawScatter() {
    clear(scatterSection);
    const metrics = Object.keys(results.metrics);
    const xChoices = metrics.filter(isFlatness);
    const yChoices = metrics.filter(isAccuracy);
    if (!xChoices.includes(scatterX)) scatterX = xChoices[0] ?? null;
    if (!yChoices.includes(scatterY)) scatterY = defaultAccuracy(metrics);
    const points = results.children
      .map((c) => ({ child: c, x: c.metrics[scatterX], y: c.metrics[scatterY] }))
      .filter((p) => typeof p.x === "number" && typeof p.y === "number");
    scatterSection.append(
      h("h2", null, "Flatness against accuracy"),
      h(
        "div",
        { class: "toolbar" },
        h("label", { class: "filter" }, h("span", null, "x (flatness)"), metricSelect("scatter-x", xChoices, scatterX, (m) => ((scatterX = m), drawScatter()))),
        h("label", { class: "filter" }, h("span", null, "y (accuracy)"), metricSelect("scatter-y", yChoices, scatterY, (m) => ((scatterY = m), drawScatter()))),
      ),
    );
    if (!points.length) {
      scatterSection.append(h("p", { class: "chart-empty" }, `No search has both ${scatterX} and ${scatterY} yet (flatness metrics are computed at the spec's flatness.interval and at the end).`));
      return;
    }
    const W = 640;
    const H = 320;
    const pad = { l: 64, r: 16, t: 12, b: 44 };
    // Axes end on round ticks (1, 2, 2.5 or 5 × 10^k apart), not on the data's own extremes.
    const range = (vals) => {
      const lo = Math.min(...vals);
      const hi = Math.max(...vals);
      const m = (hi - lo) * 0.05;
      // Values that are never negative (accuracies, counts) do not get a negative tick from the margin.
      return niceTicks(lo >= 0 ? Math.max(0, lo - m) : lo - m, hi + m, 5);
    };
    const xAxis = range(points.map((p) => p.x));
    // Accuracies are fractions shown as percentages: round in percent, then back.
    const yPct = isAccuracy(scatterY);
    const yAxisShown = range(points.map((p) => (yPct ? p.y * 100 : p.y)));
    const yAxis = yPct ? { lo: yAxisShown.lo / 100, hi: yAxisShown.hi / 100, ticks: yAxisShown.ticks.map((t) => t / 100) } : yAxisShown;
    const [x0, x1] = [xAxis.lo, xAxis.hi];
    const [y0, y1] = [yAxis.lo, yAxis.hi];
    const px = (x) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
    const py = (y) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
    const yTickText = (v, i) => (yPct ? `${yAxisShown.ticks[i]}%` : fmtNum(v, 4));
    const svg = s(
      "svg",
      { class: "scatter", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${scatterY} against ${scatterX}`, "data-points": String(points.length) },
      s("line", { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, class: "axis-line" }),
      s("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, class: "axis-line" }),
      xAxis.ticks.map((v) => s("text", { x: px(v), y: H - pad.b + 16, class: "tick tick-x", "text-anchor": "middle", "data-value": String(v) }, String(v))),
      yAxis.ticks.map((v, i) => s("text", { x: pad.l - 6, y: py(v) + 4, class: "tick tick-y", "text-anchor": "end", "data-value": String(yPct ? yAxisShown.ticks[i] : v) }, yTickText(v, i))),
      s("text", { x: (W + pad.l) / 2, y: H - 6, class: "axis-label", "text-anchor": "middle" }, scatterX),
      points.map((p) =>
        s(
          "circle",
          {
            cx: px(p.x),
            cy: py(p.y),
            r: 6,
            fill: colourOf(p.child.values),
            class: "scatter-point",
            "data-search": p.child.search_id,
            onclick: () => navigate(searchUrl(p.child.search_id)),
          },
          s("title", null, `${label(p.child.values)}\n${scatterX} ${fmtNum(p.x, 4)}\n${scatterY} ${fmtMetric(scatterY, p.y)}`),
        ),
      ),
    );
    const legend = h(
      "div",
      { class: "legend" },
      [...new Set(results.children.map((c) => label(c.values, ["seed"])))].map((key) => {
        const child = results.children.find((c) => label(c.values, ["seed"]) === key);
        return h("span", { class: "legend-item" }, h("span", { class: "swatch", style: `background:${colourOf(child.values)}` }), key);
      }),
    );
    scatterSection.append(h("div", { class: "scatter-box" }, svg), legend, h("p", { class: "muted" }, "One point per finished search; click a point to open it."));
  }

  function drawChildren() {
    clear(childrenSection);
    const axes = results.axes;
    childrenSection.append(
      h("h2", null, "Searches"),
      h(
        "table",
        { class: "compact study-children" },
        h("thead", null, h("tr", null, h("th", null, "#"), axes.map((a) => h("th", { scope: "col" }, a)), ["Status", "Progress", "Final val acc", study.evaluate ? "Evaluation" : null, ""].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          study.children.map((c) => {
            const metrics = results.children.find((r) => r.search_id === c.search_id)?.metrics || {};
            return h(
              "tr",
              { "data-search": c.search_id },
              h("td", { class: "num" }, String(c.position)),
              axes.map((a) => h("td", null, String(c.cell[a]))),
              h("td", null, statusBadge(c.status)),
              h("td", { class: "num" }, `${Math.round(c.fraction * 100)}%`),
              h("td", { class: "num" }, fmtMetric("final_val_acc", metrics.final_val_acc)),
              study.evaluate ? h("td", null, c.evaluation_status ? statusBadge(c.evaluation_status) : h("span", { class: "muted" }, "after the search"), metrics.eval_test_acc !== undefined && metrics.eval_test_acc !== null ? ` ${fmtMetric("eval_test_acc", metrics.eval_test_acc)}` : null) : null,
              h("td", null, h("a", { href: searchUrl(c.search_id), "data-link": "" }, "open")),
            );
          }),
        ),
      ),
    );
  }

  async function refresh() {
    try {
      [study, results] = await Promise.all([get(base), get(`${base}/results`)]);
    } catch (err) {
      toast(`Could not refresh the study: ${errorText(err)}`, "error");
      return;
    }
    drawHead();
    drawCells();
    drawPaired();
    drawScatter();
    drawChildren();
    if (polls++ % CURVES_EVERY === 0 || !ACTIVE_STUDY.has(study.status)) await drawCurves();
  }

  function schedule() {
    clearTimeout(timer);
    if (stopped || !ACTIVE_STUDY.has(study.status)) return;
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  await refresh();
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (curvesChart) curvesChart.destroy();
  };
}
