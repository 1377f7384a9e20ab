// One search: live curves, α heatmaps, current and best cell diagrams, flatness, spec, actions.

import { get, getOptional, post, download, openEventStream, ApiError } from "../api.js";
import { h, clear, morphChildren, fmtDuration, fmtTime, fmtTimeTitle, fmtAcc, errorText, toast, debounce, pretty } from "../dom.js";
import { hasBenchmark } from "../catalog.js";
import { ACTIVE, TERMINAL, specOf, spaceOf, datasetOf, nameOf, curvesOf, alphasOf, flatnessOf, opsOf, bestValAccOf, progressOf, loadCatalogue } from "../model.js";
import { lineChart, asPercent } from "../charts.js";
import { genotypeFigure } from "../cell.js";
import { alphaHeatmaps } from "../heatmap.js";
import { flatnessPanels } from "../flatness.js";
import { statusBadge, methodCell, progressBar } from "./list.js";
import { compareUrl } from "../router.js";
import { JOB_TERMINAL, LANDSCAPE_JOBS, followJob, landscapeJobPath, showJobStatus, problemBox, jobErrorBox } from "../jobs.js";
import { evaluationSection } from "../evaluations.js";
import { groundTruthPanel } from "../groundtruth.js";

const POLL_MS = 8000;

export async function render(root, { id }, { setLive }) {
  const base = `/searches/${encodeURIComponent(id)}`;
  await loadCatalogue(); // the spaces' default op sets, for α heatmaps drawn before a genotype exists
  let search;
  try {
    search = await get(base);
  } catch (err) {
    root.append(
      h("div", { class: "card" }, h("h1", null, err instanceof ApiError && err.status === 404 ? "Search not found" : "Could not load the search"), h("p", null, errorText(err)), h("a", { href: "/dashboard", "data-link": "" }, "Back to searches")),
    );
    return () => {};
  }

  let stopped = false;
  let retrying = false; // a retry request in flight: its button stays disabled until it answers
  let hasGenotype = false;
  let hasCurves = false;
  // Per-step training loss from the event stream ([fractional epoch, loss]): the loss chart is
  // live within an epoch, before the epoch's row exists.
  const liveSteps = [];
  let lastRows = [];
  const sig = { curves: "", alphas: "", genos: "", flat: "" };
  let charts = [];
  let flatCharts = [];

  const headEl = h("div", { class: "page-head search-head" });
  const progressEl = h("div", { class: "search-progress card" });
  const errorEl = h("div", { class: "error-box", role: "alert", hidden: true });
  const curvesEl = h("div", { class: "curves two-col" });
  const genoEl = h("div", { class: "genotypes two-col" });
  const alphaEl = h("div");
  const flatEl = h("div");
  // On-demand neighbourhood of the best genotype (a landscape job: POST /landscape-jobs/neighbourhood), followed live.
  const nbStatusEl = h("div", { class: "job-status", "data-job-kind": "neighbourhood", role: "status", "aria-live": "polite", hidden: true });
  const nbErrorEl = h("div");
  const specSamples = specOf(search).flatness?.neighbour_samples;
  const nbSamples = h("input", { type: "number", id: "nb-samples", min: "1", max: "1000", placeholder: specSamples ? String(specSamples) : "", class: "narrow-input", "aria-describedby": "nb-samples-hint" });
  const nbButton = h("button", { type: "button", class: "btn btn-small", "data-action": "compute-neighbourhood", onclick: () => computeNeighbourhood() }, "Compute neighbourhood");
  const nbControls = h(
    "div",
    { class: "barrier-controls" },
    h("span", { class: "muted small nb-hint" }, "Neighbourhood of the best genotype (supernet's newest weights):"),
    h("label", { class: "filter", for: "nb-samples" }, "Neighbours per radius", nbSamples),
    h("span", { id: "nb-samples-hint", class: "muted small" }, specSamples ? `empty: ${specSamples}, the spec's flatness.neighbour_samples` : "empty: the spec's flatness.neighbour_samples"),
    nbButton,
  );
  let stopNb = () => {};
  // α colours on the fixed [0, 1] scale by default; stretched to the observed range on request.
  const stretchBox = h("input", { type: "checkbox", id: "alpha-stretch", onchange: () => { sig.alphas = ""; drawAlphas(lastAlphas.body, lastAlphas.genotype); } });
  const stretchToggle = h("label", { class: "filter inline", for: "alpha-stretch" }, stretchBox, " stretch colours to the observed range");
  const lastAlphas = { body: null, genotype: null };
  const specEl = h("div");
  const evaluations = evaluationSection(search);
  const groundTruth = groundTruthPanel();

  const section = (title, body, extra = null, id2 = "") =>
    h("section", { class: "card section", "aria-labelledby": `h-${id2}` }, h("div", { class: "section-head" }, h("h2", { id: `h-${id2}` }, title), extra), body);

  root.append(
    h(
      "div",
      { class: "page" },
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/dashboard", "data-link": "" }, "Searches"), " / ", h("span", null, nameOf(search))),
      headEl,
      progressEl,
      errorEl,
      section("Training curves", curvesEl, null, "curves"),
      section("Architecture", genoEl, null, "arch"),
      hasBenchmark(spaceOf(search)) ? section("Ground truth", groundTruth.el, h("span", { class: "muted small" }, "NAS-Bench-201 test accuracy (200 epochs, mean over seeds) of each epoch's genotype"), "gt") : null,
      section("α evolution", alphaEl, h("span", { class: "muted small" }, "softmax weight of each op on each edge, per epoch ", stretchToggle), "alpha"),
      section("Flatness", h("div", { class: "section" }, nbStatusEl, nbErrorEl, flatEl), nbControls, "flat"),
      evaluations.el,
      section("Spec", specEl, null, "spec"),
    ),
  );

  // --- header, progress, error --------------------------------------------------------------------

  function renderHead() {
    const s = search;
    const canCancel = ACTIVE.has(s.status) && !s.cancel_requested;
    const canRetry = (s.status === "failed" || s.status === "cancelled") && !retrying;
    const noGenotype = hasGenotype ? null : "no genotype yet: one is derived at the end of every epoch";
    const noCurves = hasCurves ? null : "no curves yet: a row is written at the end of every epoch";
    // Morphed, not rebuilt: a refresh between mouse-down and mouse-up must not swallow a click on Cancel.
    morphChildren(headEl, [
      h(
        "div",
        { class: "title-block" },
        h("h1", null, nameOf(s), " ", statusBadge(s.status, s.cancel_requested)),
        h(
          "div",
          { class: "meta-line" },
          methodCell(s),
          h("span", { class: "sep" }, "·"),
          h("span", null, spaceOf(s)),
          h("span", { class: "sep" }, "·"),
          h("span", null, datasetOf(s)),
          h("span", { class: "sep" }, "·"),
          h("code", { class: "muted", title: "search id" }, String(s.id)),
        ),
      ),
      h(
        "div",
        { class: "page-actions" },
        h("button", { type: "button", class: "btn btn-danger", "data-action": "cancel", disabled: !canCancel, onclick: () => act("cancel") }, "Cancel"),
        h("button", { type: "button", class: "btn", "data-action": "retry", disabled: !canRetry, onclick: () => act("retry") }, "Retry"),
        h("button", { type: "button", class: "btn", "data-action": "download-genotype", disabled: !hasGenotype, title: noGenotype, onclick: () => dl(`${base}/genotype`, `${safeName(s)}-genotype.json`) }, "Genotype JSON"),
        h("button", { type: "button", class: "btn", "data-action": "download-curves", disabled: !hasCurves, title: noCurves, onclick: () => dl(`${base}/curves?format=csv`, `${safeName(s)}-curves.csv`) }, "Curves CSV"),
        h("a", { class: "btn btn-ghost", href: compareUrl([String(s.id)]), "data-link": "" }, "Compare…"),
      ),
    ]);
  }

  function renderProgress() {
    clear(progressEl);
    const s = search;
    const best = bestValAccOf(s);
    const started = s.started_at ? new Date(s.started_at) : null;
    const ended = s.finished_at ? new Date(s.finished_at) : null;
    const elapsed = started ? ((ended || new Date()) - started) / 1000 : null;
    const facts = [
      ["created", h("span", { title: fmtTimeTitle(s.created_at) }, fmtTime(s.created_at))],
      ["started", h("span", { title: fmtTimeTitle(s.started_at) }, fmtTime(s.started_at))],
      ["finished", h("span", { title: fmtTimeTitle(s.finished_at) }, fmtTime(s.finished_at))],
      ["elapsed", fmtDuration(elapsed)],
      ["worker", s.worker || "–"],
      ["best val acc", best === null ? "–" : fmtAcc(best)],
    ];
    progressEl.append(
      progressBar(s),
      h("dl", { class: "facts" }, facts.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v)))),
    );
    const err = s.error;
    errorEl.hidden = !err;
    clear(errorEl);
    if (err) {
      const text = typeof err === "string" ? err : err.message || err.detail || pretty(err);
      const trace = typeof err === "object" ? err.traceback || err.trace : null;
      errorEl.append(h("h2", null, "Error"), h("p", { class: "error-text" }, text));
      if (trace) errorEl.append(h("details", null, h("summary", null, "Traceback"), h("pre", null, trace)));
    }
  }

  async function act(action) {
    if (action === "retry") retrying = true;
    renderHead();
    try {
      await post(`${base}/${action}`);
      retrying = false;
      toast(action === "cancel" ? "Cancellation requested." : "Search re-queued; it resumes from its last checkpoint.", "ok");
      await refreshSearch();
      startStream();
    } catch (err) {
      retrying = false;
      renderHead();
      toast(`${action} failed: ${errorText(err)}`, "error");
    }
  }

  async function dl(path, name) {
    try {
      const saved = await download(path, name);
      toast(`Downloaded ${saved}`, "ok");
    } catch (err) {
      toast(err instanceof ApiError && err.status === 404 ? "Nothing to download yet." : `Download failed: ${errorText(err)}`, "error");
    }
  }

  // --- curves -------------------------------------------------------------------------------------

  function drawCurves(rows) {
    const key = JSON.stringify(rows.map((r) => [r.epoch, r.val_acc, r.train_loss])) + liveSteps.length;
    if (key === sig.curves && charts.length) return;
    sig.curves = key;
    lastRows = rows;
    const xs = rows.map((r) => r.epoch);
    const pick = (f) => rows.map((r) => r[f] ?? null);
    const acc = asPercent([...pick("train_acc"), ...pick("val_acc")]);
    // Epoch rows sit at their epoch number; step losses at epoch + step/steps, between them.
    const points = new Map();
    rows.forEach((r) => points.set(r.epoch, [r.train_loss ?? null, r.val_loss ?? null, null]));
    for (const [x, loss] of liveSteps) {
      const at = points.get(x) ?? [null, null, null];
      at[2] = loss;
      points.set(x, at);
    }
    const lossXs = [...points.keys()].sort((a, b) => a - b);
    const lossData = [lossXs, ...[0, 1, 2].map((i) => lossXs.map((x) => points.get(x)[i]))];
    const accData = [xs, acc.slice(0, rows.length), acc.slice(rows.length)];
    if (charts.length) {
      charts[0].update(lossData);
      charts[1].update(accData);
      return;
    }
    clear(curvesEl);
    // The epoch axis spans the run (0 to its epoch count: step losses of the last epoch lie below
    // it), not uPlot's default for one point, which is 0–100 while the first epoch runs.
    const epochAxis = (u, lo, hi) => [0, Math.max(1, progressOf(search).totalEpochs ?? 0, Number.isFinite(hi) ? Math.ceil(hi) : 0)];
    const a = h("div", { class: "chart-cell", "data-chart": "loss" });
    const b = h("div", { class: "chart-cell", "data-chart": "accuracy" });
    curvesEl.append(a, b);
    charts = [
      lineChart(a, { title: "Loss", yLabel: "cross-entropy", series: [{ label: "train", color: "#2563eb" }, { label: "val", color: "#dc2626" }, { label: "step loss (live)", color: "#94a3b8", width: 1 }], data: lossData, xRange: epochAxis }),
      lineChart(b, { title: "Accuracy", yLabel: "%", series: [{ label: "train", color: "#2563eb" }, { label: "val", color: "#dc2626" }], data: accData, xRange: epochAxis }),
    ];
  }

  // --- genotypes, α, flatness ------------------------------------------------------------------------

  async function loadGenotypes(rows) {
    const last = rows.length ? rows[rows.length - 1] : null;
    let current = last && last.genotype && typeof last.genotype === "object" ? last.genotype : null;
    if (!current && last) current = await getOptional(`${base}/genotype?epoch=${last.epoch}`).catch(() => null);
    if (!current) current = await getOptional(`${base}/genotype`).catch(() => null);
    const best = await getOptional(`${base}/genotype?which=best`).catch(() => null);
    return { current, best, lastEpoch: last ? last.epoch : null };
  }

  function drawGenotypes({ current, best, lastEpoch }) {
    const key = JSON.stringify([current, best]);
    if (key === sig.genos) return;
    sig.genos = key;
    clear(genoEl);
    const done = TERMINAL.has(search.status);
    const curEpoch = current?.epoch ?? lastEpoch;
    const curTitle = `${done ? "Final" : "Current"}${curEpoch !== null && curEpoch !== undefined ? ` (epoch ${curEpoch})` : ""}`;
    const bestTitle = `Best${best?.epoch !== null && best?.epoch !== undefined ? ` (epoch ${best.epoch})` : ""}`;
    genoEl.append(
      h("div", { class: "geno-col", "data-genotype": "current" }, genotypeFigure(current, { title: curTitle, idPrefix: "cur" })),
      h(
        "div",
        { class: "geno-col", "data-genotype": "best" },
        genotypeFigure(best, { title: bestTitle, idPrefix: "best" }),
        best ? h("button", { type: "button", class: "btn btn-small", onclick: () => dl(`${base}/genotype?which=best`, `${safeName(search)}-best-genotype.json`) }, "Download best genotype") : null,
      ),
    );
  }

  function drawAlphas(body, genotype) {
    Object.assign(lastAlphas, { body, genotype });
    const rows = alphasOf(body);
    const key = JSON.stringify(rows.map((r) => r.epoch));
    if (key === sig.alphas && rows.length) return;
    sig.alphas = key;
    clear(alphaEl);
    alphaEl.append(alphaHeatmaps(rows, opsOf(genotype, spaceOf(search)), { stretch: stretchBox.checked }));
  }

  function drawFlatness(body) {
    const recs = flatnessOf(body);
    const key = JSON.stringify(recs.map((r) => [r.kind, r.epoch, r.value])) + search.status;
    if (key === sig.flat) return;
    sig.flat = key;
    flatCharts.forEach((c) => c.destroy());
    clear(flatEl);
    const { root: panel, draw } = flatnessPanels(recs, { running: !TERMINAL.has(search.status), spec: specOf(search), status: search.status });
    flatEl.append(panel);
    flatCharts = draw();
  }

  function drawSpec() {
    clear(specEl);
    const spec = specOf(search);
    const rows = [];
    const walk = (prefix, v) => {
      if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
      else rows.push([prefix, Array.isArray(v) ? v.join(", ") || "[]" : v === null ? "null" : String(v)]);
    };
    const main = ["name", "space", "method", "epochs", "batch_size", "seed", "priority", "tags"];
    for (const k of main) if (k in spec) walk(k, spec[k]);
    for (const k of ["a2m", "dataset", "supernet", "method_params"]) if (k in spec) walk(k, spec[k]);
    specEl.append(
      h("dl", { class: "spec-grid" }, rows.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v)))),
      h("details", null, h("summary", null, "Full spec (JSON)"), h("pre", { class: "json" }, pretty(spec))),
    );
  }

  function followNeighbourhood(job) {
    stopNb();
    stopNb = followJob(landscapeJobPath(job.id), job, {
      onUpdate: (j) => {
        showJobStatus(nbStatusEl, j);
        nbButton.disabled = !JOB_TERMINAL.has(j.status);
        clear(nbErrorEl);
        if (j.status === "failed") nbErrorEl.append(jobErrorBox(j, "The landscape job failed"));
        // Its rows are the search's flatness rows now: redraw the panel from GET .../flatness.
        if (j.status === "succeeded") refreshAll();
      },
      onError: (err) => clear(nbErrorEl).append(problemBox(err, "Could not read the landscape job")),
    });
  }

  async function computeNeighbourhood() {
    clear(nbErrorEl);
    nbButton.disabled = true;
    const body = { search_id: String(id), which: "best" };
    if (nbSamples.value !== "") body.samples = Number(nbSamples.value);
    try {
      followNeighbourhood(await post(`${LANDSCAPE_JOBS}/neighbourhood`, body));
    } catch (err) {
      nbButton.disabled = false;
      nbErrorEl.append(problemBox(err, "The landscape job was not started"));
    }
  }

  // --- refresh + live -------------------------------------------------------------------------------

  async function refreshSearch() {
    search = await get(base);
    renderHead();
    renderProgress();
  }

  async function refreshAll() {
    if (stopped) return;
    try {
      const [s, curves, alphas, flat, bench] = await Promise.all([
        get(base),
        getOptional(`${base}/curves`).catch(() => null),
        getOptional(`${base}/alphas`).catch(() => null),
        getOptional(`${base}/flatness`).catch(() => null),
        hasBenchmark(spaceOf(search)) ? getOptional(`${base}/benchmark`).catch(() => null) : null,
      ]);
      if (stopped) return;
      search = s;
      renderHead();
      renderProgress();
      const rows = curvesOf(curves);
      hasCurves = rows.length > 0;
      drawCurves(rows);
      const genos = await loadGenotypes(rows);
      if (stopped) return;
      hasGenotype = Boolean(genos.current || genos.best);
      renderHead();
      drawGenotypes(genos);
      explainEmpty(rows);
      drawAlphas(alphas, genos.current || genos.best);
      drawFlatness(flat);
      if (bench) groundTruth.update(bench);
    } catch (err) {
      toast(`Refresh failed: ${errorText(err)}`, "error");
    }
  }

  const refreshSoon = debounce(refreshAll, 600);

  /** A search that ended without data says why in each empty panel, instead of "No data yet". */
  function explainEmpty(rows) {
    const ended = search.status === "failed" || search.status === "cancelled";
    root.querySelectorAll(".ended-note").forEach((n) => n.remove());
    if (!ended || rows.length) return;
    const why = search.status === "failed" ? `The search failed before its first epoch ended${search.error ? `: ${search.error}` : "."}` : "The search was cancelled before its first epoch ended.";
    // Above each panel's content (a sibling, so the panel's own grid keeps its layout).
    for (const el of [curvesEl, genoEl, alphaEl]) el.before(h("p", { class: "ended-note empty", role: "note" }, why));
  }
  let stream = null;

  function onEvent(type, data) {
    if (data && typeof data === "object") {
      const prog = data.progress ?? (type === "progress" || typeof data.step === "number" ? data : null);
      if (prog && typeof prog === "object") {
        search = { ...search, progress: { ...(search.progress || {}), ...prog } };
        if (type === "progress" && prog.phase === "train" && typeof prog.loss === "number" && prog.steps_per_epoch) {
          const x = prog.epoch + Math.min(prog.step, prog.steps_per_epoch) / prog.steps_per_epoch;
          if (!liveSteps.length || x > liveSteps[liveSteps.length - 1][0]) {
            liveSteps.push([x, prog.loss]);
            drawCurves(lastRows);
          }
        }
        if (typeof data.eta_seconds === "number") search.eta_seconds = data.eta_seconds;
      }
      if (data.status && data.status !== search.status) search = { ...search, status: data.status };
      renderProgress();
    }
    if (type !== "progress" && type !== "heartbeat") refreshSoon();
  }

  function startStream() {
    if (stream || stopped || TERMINAL.has(search.status)) return;
    stream = openEventStream(`${base}/events`, onEvent, {
      shouldReconnect: () => !stopped && !TERMINAL.has(search.status),
      onState: (st) => {
        setLive(st);
        if (st === "closed") {
          stream = null;
          refreshSoon();
        }
      },
    });
  }

  renderHead();
  renderProgress();
  drawSpec();
  await refreshAll();
  startStream();
  getOptional(`${LANDSCAPE_JOBS}?search_id=${encodeURIComponent(id)}&kind=neighbourhood&limit=1`)
    .then((page) => {
      const last = page?.items?.[0];
      if (!last || stopped) return;
      if (JOB_TERMINAL.has(last.status)) showJobStatus(nbStatusEl, last);
      else followNeighbourhood(last);
    })
    .catch(() => {});
  const poll = setInterval(() => {
    if (!stopped && document.visibilityState === "visible" && !TERMINAL.has(search.status)) refreshAll();
  }, POLL_MS);

  return () => {
    stopped = true;
    stopNb();
    evaluations.stop();
    clearInterval(poll);
    stream?.stop();
    charts.forEach((c) => c.destroy());
    flatCharts.forEach((c) => c.destroy());
    groundTruth.destroy();
  };
}

function safeName(s) {
  return String(nameOf(s)).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) || String(s.id);
}
