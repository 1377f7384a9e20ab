// NAS-Bench-201 ground truth (GET /searches/{id}/benchmark): the benchmark's 200-epoch test
// accuracy of each epoch's derived genotype, one chart per data set, with the benchmark's optimum
// as a dashed line; or, when there is none, the reason the worker gave.

import { h, clear } from "./dom.js";
import { lineChart, PALETTE } from "./charts.js";

export const DATASETS = [
  ["cifar10", "CIFAR-10"],
  ["cifar100", "CIFAR-100"],
  ["ImageNet16-120", "ImageNet16-120"],
];

const STATE_TEXT = {
  ready: "ground truth from NAS-Bench-201",
  not_configured: "no ground truth: no benchmark configured",
  unreadable: "no ground truth: the benchmark could not be read",
  not_applicable: "no ground truth for this search space",
  pending: "ground truth appears once a worker runs the search",
};

/** epoch (from 0, as everywhere) -> test accuracy, per data set, from the "epoch" rows. */
export function testAccuracyByEpoch(body, dataset) {
  const out = new Map();
  for (const r of (body && body.items) || []) if (r.kind === "epoch" && r.dataset === dataset) out.set(r.epoch, r.test_acc);
  return out;
}

function optimumOf(body, dataset) {
  const o = body && body.optimum && body.optimum[dataset];
  const r = o && o.results && o.results[dataset];
  return r && typeof r.test_acc === "number" ? r.test_acc : null;
}

function statusLine(body) {
  const st = (body && body.status) || { state: "pending", detail: "" };
  const timing = typeof st.lookup_ms_mean === "number" ? ` · lookup ${st.lookup_ms_mean.toFixed(2)} ms per epoch` : "";
  return h(
    "p",
    { class: `gt-status muted small`, "data-state": st.state, role: "status" },
    h("strong", null, STATE_TEXT[st.state] || st.state),
    st.detail ? ` — ${st.detail}` : "",
    timing,
  );
}

function summaryTable(body) {
  const rows = ((body && body.items) || []).filter((r) => r.kind !== "epoch");
  if (!rows.length) return null;
  return h(
    "table",
    { class: "compact gt-table" },
    h("thead", null, h("tr", null, ["", "Data set", "Epoch", "Test acc (%)", "Valid acc (%)", "Params (M)", "FLOPs (M)", "Arch"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      null,
      rows.map((r) =>
        h(
          "tr",
          { "data-kind": r.kind, "data-dataset": r.dataset },
          h("td", null, r.kind),
          h("td", null, r.dataset),
          h("td", { class: "num" }, String(r.epoch)),
          h("td", { class: "num" }, `${r.test_acc.toFixed(2)} ± ${r.test_acc_std.toFixed(2)}`),
          h("td", { class: "num" }, r.valid_acc == null ? "–" : `${r.valid_acc.toFixed(2)} ± ${(r.valid_acc_std ?? 0).toFixed(2)}`),
          h("td", { class: "num" }, r.params_m.toFixed(3)),
          h("td", { class: "num" }, r.flops_m.toFixed(2)),
          h("td", null, h("code", { class: "small" }, r.arch_str)),
        ),
      ),
    ),
  );
}

/** The search page's section body: status, three charts (drawn once there are rows), best/final table. */
export function groundTruthPanel() {
  const el = h("div", { class: "ground-truth", "data-panel": "ground-truth" });
  let charts = [];
  let sig = "";
  return {
    el,
    update(body) {
      const rows = ((body && body.items) || []).map((r) => [r.kind, r.epoch, r.dataset, r.test_acc]);
      const key = JSON.stringify([body && body.status, rows, body && !!body.optimum]);
      if (key === sig) return;
      sig = key;
      charts.forEach((c) => c.destroy());
      charts = [];
      clear(el);
      el.append(statusLine(body));
      const items = (body && body.items) || [];
      if (!items.length) return;
      const grid = h("div", { class: "curves three-col" });
      el.append(grid);
      const epochs = Math.max(0, ...items.filter((r) => r.kind === "epoch").map((r) => r.epoch + 1));
      const xs = Array.from({ length: epochs }, (_, i) => i);
      for (const [name, label] of DATASETS) {
        const byEpoch = testAccuracyByEpoch(body, name);
        const optimum = optimumOf(body, name);
        const cell = h("div", { class: "chart-cell", "data-chart": `ground-truth-${name}` });
        grid.append(cell);
        const series = [{ label: "derived genotype", color: PALETTE[0] }];
        const data = [xs, xs.map((e) => byEpoch.get(e) ?? null)];
        if (optimum !== null) {
          series.push({ label: "benchmark optimum", color: PALETTE[1], dash: [6, 4], width: 1.5 });
          data.push(xs.map(() => optimum));
        }
        charts.push(lineChart(cell, { title: `Ground-truth test accuracy vs epoch — ${label}`, yLabel: "%", series, data, height: 200 }));
      }
      const table = summaryTable(body);
      if (table) el.append(table);
    },
    destroy() {
      charts.forEach((c) => c.destroy());
    },
  };
}

/** The compare page's section: one chart per data set, one series per search (its own color). */
export function groundTruthCompare(loaded) {
  const charts = [];
  const grid = h("div", { class: "curves three-col" });
  const el = h("section", { class: "card section", "data-panel": "ground-truth" }, h("h2", null, "Ground truth (NAS-Bench-201)"), grid);
  const withRows = loaded.filter((x) => x.benchmark && x.benchmark.items && x.benchmark.items.length);
  if (!withRows.length) {
    const reasons = loaded.map((x) => h("li", null, `${x.search.name ?? x.id}: `, statusLine(x.benchmark)));
    el.append(h("ul", { class: "muted small" }, reasons));
    return { el, destroy() {} };
  }
  const epochs = Math.max(0, ...withRows.flatMap((x) => x.benchmark.items.filter((r) => r.kind === "epoch").map((r) => r.epoch + 1)));
  const xs = Array.from({ length: epochs }, (_, i) => i);
  for (const [name, label] of DATASETS) {
    const cell = h("div", { class: "chart-cell", "data-chart": `ground-truth-${name}` });
    grid.append(cell);
    const series = withRows.map((x) => ({ label: x.search.name ?? x.id, color: x.color }));
    const data = [xs, ...withRows.map((x) => {
      const byEpoch = testAccuracyByEpoch(x.benchmark, name);
      return xs.map((e) => byEpoch.get(e) ?? null);
    })];
    const optimum = withRows.map((x) => optimumOf(x.benchmark, name)).find((v) => v !== null);
    if (optimum !== undefined) {
      series.push({ label: "benchmark optimum", color: "#4b5563", dash: [6, 4], width: 1.5 });
      data.push(xs.map(() => optimum));
    }
    charts.push(lineChart(cell, { title: `Ground-truth test accuracy vs epoch — ${label}`, yLabel: "%", series, data, height: 220 }));
  }
  return { el, destroy: () => charts.forEach((c) => c.destroy()) };
}
