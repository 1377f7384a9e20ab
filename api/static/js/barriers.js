// Barrier matrix on the compare page: the barriers already computed between the compared searches
// (GET /landscape-jobs?search_ids=...), a form that submits a landscape job of kind barrier_matrix
// (POST /landscape-jobs/barrier-matrix), the job followed live (GET /landscape-jobs/{id} every
// second until it ends), and the matrix drawn as a colour-scaled table with the exact values.
//
// Result shapes (api/landscape.py, worker/landscape.py): a barrier_matrix job's result.matrix holds
// n×n lists (acc_barrier_mean/max, loss_barrier_mean/max, distance) in the order of
// result.search_ids; a pair job's result.barrier holds the same keys as numbers.

import { get, post, listOf } from "./api.js";
import { h, clear } from "./dom.js";
import { nameOf, spaceOf } from "./model.js";
import { JOB_TERMINAL, LANDSCAPE_JOBS, followJob, landscapeJobPath, showJobStatus, problemBox, jobErrorBox } from "./jobs.js";

/** What a cell can show; acc barriers are fractions of images, shown in percentage points. */
export const METRICS = [
  { key: "acc_barrier_mean", label: "accuracy barrier, mean over paths (pp)", fmt: (v) => (v * 100).toFixed(2) },
  { key: "acc_barrier_max", label: "accuracy barrier, max over paths (pp)", fmt: (v) => (v * 100).toFixed(2) },
  { key: "loss_barrier_mean", label: "loss barrier, mean over paths", fmt: (v) => v.toFixed(3) },
  { key: "loss_barrier_max", label: "loss barrier, max over paths", fmt: (v) => v.toFixed(3) },
  { key: "distance", label: "edit distance", fmt: (v) => String(Math.round(v)) },
];
const KEYS = METRICS.map((m) => m.key);

/** Cells {a|b: {metric: value, job}} from landscape jobs (barrier, barrier_matrix) listed newest first: the newest value wins. */
export function cellsFromJobs(jobs) {
  const cells = new Map();
  for (const job of jobs) if (job.status === "succeeded" && job.result) addJob(cells, job, false);
  return cells;
}

function addJob(cells, job, override) {
  const put = (a, b, values) => {
    if (!a || !b || a === b) return;
    if (!override && cells.has(`${a}|${b}`)) return;
    const cell = { job: job.id, kind: job.kind, created: job.created_at };
    for (const k of KEYS) if (typeof values[k] === "number") cell[k] = values[k];
    cells.set(`${a}|${b}`, cell);
    cells.set(`${b}|${a}`, cell);
  };
  const r = job.result;
  if (job.kind === "barrier_matrix") {
    const ids = (r.search_ids || job.search_ids || []).map(String);
    const m = r.matrix || {};
    ids.forEach((a, i) =>
      ids.forEach((b, j) => {
        const values = {};
        for (const k of KEYS) values[k] = m[k]?.[i]?.[j];
        put(a, b, values);
      }),
    );
  } else if (r.barrier) {
    put(String(job.a?.search_id ?? ""), String(job.b?.search_id ?? ""), r.barrier);
  }
}

/** Red for a barrier (worse than the straight line between the two), blue below zero. */
function heat(v, scale) {
  if (typeof v !== "number" || scale === 0) return "";
  const t = Math.min(1, Math.abs(v) / scale);
  const [r, g, b] = v >= 0 ? [220, 38, 38] : [37, 99, 235];
  const mix = (c) => Math.round(255 + (c - 255) * t * 0.85);
  return `background:rgb(${mix(r)},${mix(g)},${mix(b)});${t > 0.6 ? "color:#fff;" : ""}`;
}

function tooltip(x, y, cell) {
  if (!cell) return `${nameOf(x.search)} vs ${nameOf(y.search)}: not computed`;
  const pp = (k) => (typeof cell[k] === "number" ? `${(cell[k] * 100).toFixed(2)} pp` : "–");
  const loss = (k) => (typeof cell[k] === "number" ? cell[k].toFixed(4) : "–");
  return [
    `${nameOf(x.search)} vs ${nameOf(y.search)}`,
    `accuracy barrier: mean ${pp("acc_barrier_mean")}, max ${pp("acc_barrier_max")}`,
    `loss barrier: mean ${loss("loss_barrier_mean")}, max ${loss("loss_barrier_max")}`,
    `edit distance: ${cell.distance ?? "–"}`,
    `${cell.kind === "barrier_matrix" ? "matrix" : "pair"} job ${cell.job}`,
  ].join("\n");
}

function matrixTable(loaded, cells, metric) {
  const values = [];
  for (const x of loaded) for (const y of loaded) if (x !== y && typeof cells.get(`${x.id}|${y.id}`)?.[metric.key] === "number") values.push(cells.get(`${x.id}|${y.id}`)[metric.key]);
  const scale = Math.max(0, ...values.map(Math.abs));
  return h(
    "table",
    { class: "compact barrier-matrix", "data-metric": metric.key },
    h("caption", { class: "muted small" }, metric.label, " · hover a cell for every value"),
    h("thead", null, h("tr", null, h("th"), loaded.map((x) => h("th", { scope: "col", "data-id": x.id }, nameOf(x.search))))),
    h(
      "tbody",
      null,
      loaded.map((x) =>
        h(
          "tr",
          { "data-id": x.id },
          h("th", { scope: "row" }, nameOf(x.search)),
          loaded.map((y) => {
            if (x === y) return h("td", { class: "num diag", "data-a": x.id, "data-b": y.id, "data-value": "0" }, "0");
            const cell = cells.get(`${x.id}|${y.id}`);
            const v = cell?.[metric.key];
            const known = typeof v === "number";
            return h(
              "td",
              { class: known ? "num" : "num missing", "data-a": x.id, "data-b": y.id, "data-value": known ? String(v) : "", style: known ? heat(v, scale) : "", title: tooltip(x, y, cell) },
              known ? metric.fmt(v) : "–",
            );
          }),
        ),
      ),
    ),
  );
}

/** The compare page's barrier section; `stop()` ends the polling when the page is left. */
export async function barrierSection(loaded) {
  const ids = loaded.map((x) => String(x.id));
  let jobs = [];
  try {
    jobs = listOf(await get(`${LANDSCAPE_JOBS}?search_ids=${ids.map(encodeURIComponent).join(",")}`), "items");
  } catch {
    jobs = [];
  }
  let cells = cellsFromJobs(jobs);
  let metric = METRICS[0];
  let stopFollowing = () => {};

  const spaces = [...new Set(loaded.map((x) => spaceOf(x.search)))];
  const matrixEl = h("div", { class: "matrix-host" });
  const statusEl = h("div", { class: "job-status", role: "status", "aria-live": "polite", hidden: true });
  const errorEl = h("div", { class: "job-error" });
  const which = h("select", { name: "which", id: "barrier-which" }, h("option", { value: "final" }, "final"), h("option", { value: "best" }, "best"));
  const paths = h("input", { type: "number", name: "paths", id: "barrier-paths", min: "1", max: "24", value: "6", class: "narrow-input" });
  const show = h(
    "select",
    { name: "metric", id: "barrier-metric", onchange: () => ((metric = METRICS.find((m) => m.key === show.value) || METRICS[0]), draw()) },
    METRICS.map((m) => h("option", { value: m.key }, m.label)),
  );
  const button = h("button", { type: "button", class: "btn btn-primary", "data-action": "compute-barriers", disabled: ids.length < 2, onclick: () => compute() }, "Compute barrier matrix");

  function draw() {
    clear(matrixEl);
    if (!cells.size) {
      matrixEl.append(h("p", { class: "empty" }, "No barriers computed between these searches yet: compute the matrix above."));
      return;
    }
    const values = [...cells.values()].map((c) => c[metric.key]).filter((v) => typeof v === "number");
    const hi = Math.max(0, ...values.map(Math.abs));
    matrixEl.append(
      matrixTable(loaded, cells, metric),
      h(
        "div",
        { class: "heat-legend small muted" },
        h("span", { class: "heat-swatch", style: heat(-hi, hi) }),
        " below 0 (no barrier: the path beats the straight line) · ",
        h("span", { class: "heat-swatch", style: "background:#fff" }),
        " 0 · ",
        h("span", { class: "heat-swatch", style: heat(hi, hi) }),
        ` ${hi ? metric.fmt(hi) : "0"} (largest here)`,
      ),
    );
  }

  function showJob(job) {
    showJobStatus(statusEl, job);
    clear(errorEl);
    if (job.status === "failed") errorEl.append(jobErrorBox(job, "The landscape job failed"));
  }

  function follow(job) {
    stopFollowing();
    stopFollowing = followJob(landscapeJobPath(job.id), job, {
      onUpdate: (j) => {
        showJob(j);
        button.disabled = !JOB_TERMINAL.has(j.status);
        if (j.status === "succeeded" && j.result) {
          addJob(cells, j, true);
          draw();
        }
      },
      onError: (err) => clear(errorEl).append(problemBox(err, "Could not read the landscape job")),
    });
  }

  async function compute() {
    clear(errorEl);
    button.disabled = true;
    const n = Number(paths.value);
    const body = { search_ids: ids, which: which.value, paths: Number.isFinite(n) && paths.value !== "" ? n : 6 };
    try {
      follow(await post(`${LANDSCAPE_JOBS}/barrier-matrix`, body));
    } catch (err) {
      button.disabled = false;
      statusEl.hidden = true;
      errorEl.append(problemBox(err, "The barrier matrix was not started"));
    }
  }

  const section = h(
    "section",
    { class: "card section", "data-section": "barriers" },
    h(
      "div",
      { class: "section-head" },
      h("h2", null, "Barrier matrix"),
      h(
        "div",
        { class: "barrier-controls" },
        h("label", { class: "filter", for: "barrier-metric" }, "Show", show),
        h("label", { class: "filter", for: "barrier-which" }, "Genotype", which),
        h("label", { class: "filter", for: "barrier-paths" }, "Edit paths", paths),
        button,
      ),
    ),
    h(
      "p",
      { class: "muted small" },
      "Barrier between two architectures: how far accuracy falls (loss rises) along shortest edit paths between them, ",
      "judged with the first search's supernet weights. ",
      spaces.length > 1 ? h("strong", null, `These searches are in different spaces (${spaces.join(", ")}); a matrix needs one space.`) : null,
    ),
    statusEl,
    errorEl,
    matrixEl,
  );

  draw();
  // A matrix job for these searches still under way (started before this page was opened): follow it.
  const pending = jobs.find((j) => j.kind === "barrier_matrix" && !JOB_TERMINAL.has(j.status));
  if (pending) follow(pending);
  else if (jobs[0]) showJob(jobs[0]);

  return {
    el: section,
    stop: () => stopFollowing(),
  };
}
