// Evaluations as the pages show them: on a search page, an "Evaluate" form (protocol, genotype,
// the main overrides) and the search's evaluations with live status and test-accuracy curves; on
// the compare page, the newest evaluated test accuracy of each search.

import { get, getOptional, post, listOf } from "./api.js";
import { h, clear, fmtDuration } from "./dom.js";
import { lineChart, asPercent, PALETTE } from "./charts.js";
import { JOB_TERMINAL, problemBox } from "./jobs.js";
import { statusBadge } from "./views/list.js";
import { protocols, datasetNames } from "./catalog.js";

const POLL_MS = 1000;

const pct = (x) => (typeof x === "number" ? `${(100 * x).toFixed(2)}%` : "–");
const num = (x, digits) => (typeof x === "number" ? x.toFixed(digits) : "–");

/** The evaluation section of a search page: { el, stop }. */
export function evaluationSection(search) {
  const searchId = String(search.id);
  // Protocols, their form fields and defaults come from the catalog (GET /catalog); the protocol
  // preselected is the one that trains the search's space.
  const catalogued = protocols();
  const chosen = catalogued.find((p) => p.space === search.space) || catalogued[0];
  const formFields = chosen?.fields || [];
  const errorEl = h("div");
  const listEl = h("div", { class: "evaluation-list" });
  const chartEl = h("div", { class: "chart-cell", "data-chart": "evaluation-test-accuracy" });
  const field = (f) =>
    h("label", { class: "filter", for: `eval-${f.name}`, title: f.description || null }, f.label, h("input", { type: "number", id: `eval-${f.name}`, name: f.name, min: f.minimum ?? null, class: "narrow-input" }));
  const protocol = h(
    "select",
    { id: "eval-protocol", name: "protocol", onchange: () => showDefaults() },
    catalogued.map((p) => h("option", { value: p.name, selected: p === chosen, title: p.summary }, p.name)),
  );
  const which = h("select", { id: "eval-which", name: "which" }, ["final", "best"].map((w) => h("option", { value: w }, w)));
  const dataset = h("select", { id: "eval-dataset", name: "dataset" }, datasetNames().map((d) => h("option", { value: d, selected: d === (search.dataset || "cifar10") }, d)));
  const button = h("button", { type: "submit", class: "btn btn-primary btn-small", "data-action": "evaluate" }, "Evaluate");
  const form = h(
    "form",
    { class: "barrier-controls evaluate-form", onsubmit: (ev) => (ev.preventDefault(), submit()) },
    h("label", { class: "filter", for: "eval-protocol" }, "Protocol", protocol),
    h("label", { class: "filter", for: "eval-which" }, "Genotype", which),
    h("label", { class: "filter", for: "eval-dataset" }, "Data set", dataset),
    formFields.map(field),
    button,
  );
  const el = h(
    "section",
    { class: "card section", "aria-labelledby": "h-evaluations", "data-section": "evaluations" },
    h("div", { class: "section-head" }, h("h2", { id: "h-evaluations" }, "Evaluations"), h("span", { class: "muted small" }, "the found cell trained from scratch; test accuracy on held-out data")),
    form,
    errorEl,
    listEl,
    chartEl,
  );

  /** Each input's placeholder: the chosen protocol's value, which an empty input keeps. */
  function showDefaults() {
    const p = catalogued.find((x) => x.name === protocol.value);
    for (const f of p?.fields || []) {
      const input = form.querySelector(`[name="${f.name}"]`);
      if (input) input.placeholder = f.default === null || f.default === undefined ? "" : String(f.default);
    }
  }
  showDefaults();

  let stopped = false;
  let timer = null;
  let chart = null;
  let chartKey = "";

  async function submit() {
    clear(errorEl);
    button.disabled = true;
    const overrides = {};
    let seed = 0;
    for (const { name } of formFields) {
      const value = form.querySelector(`[name="${name}"]`).value;
      if (value === "") continue;
      if (name === "seed") seed = Number(value);
      else overrides[name] = Number(value);
    }
    const body = { genotype: { search_id: searchId, which: which.value }, protocol: protocol.value, dataset: { name: dataset.value }, seed, overrides };
    try {
      await post("/evaluations", body);
      await refresh();
    } catch (err) {
      errorEl.append(problemBox(err, "The evaluation was not started"));
    } finally {
      button.disabled = false;
    }
  }

  function row(e, color) {
    const p = e.progress || {};
    const epochs = e.spec?.epochs ?? p.total_epochs;
    const done = typeof p.epoch === "number" && !JOB_TERMINAL.has(e.status) ? `${p.epoch} of 0–${epochs - 1}` : `${epochs}`;
    return h(
      "tr",
      { "data-evaluation": e.id, "data-status": e.status },
      h("td", null, h("span", { class: "swatch", style: `background:${color}` })),
      h("td", null, statusBadge(e.status, e.cancel_requested)),
      h("td", null, e.protocol),
      h("td", null, e.dataset),
      h("td", null, e.source?.which ?? (e.source?.epoch !== undefined && e.source?.epoch !== null ? `epoch ${e.source.epoch}` : "json")),
      h("td", { class: "num" }, done),
      h("td", { class: "num", "data-field": "test_acc" }, e.test_acc !== null && e.test_acc !== undefined ? pct(e.test_acc) : e.latest_test_acc !== null && e.latest_test_acc !== undefined ? h("span", { class: "muted" }, pct(e.latest_test_acc)) : "–"),
      h("td", { class: "num" }, num(e.params_m, 3)),
      h("td", { class: "num" }, num(e.flops_m, 1)),
      h("td", { class: "num" }, e.eta_seconds ? fmtDuration(e.eta_seconds) : "–"),
      h("td", { class: "muted small" }, e.error || ""),
    );
  }

  async function draw(items) {
    clear(listEl);
    if (!items.length) {
      listEl.append(h("p", { class: "empty muted" }, "No evaluations yet."));
      return;
    }
    const heads = ["", "Status", "Protocol", "Data", "Genotype", "Epochs", "Test acc", "Params M", "FLOPs M", "ETA", ""];
    listEl.append(
      h("table", { class: "compact evaluation-table" }, h("thead", null, h("tr", null, heads.map((t) => h("th", { scope: "col" }, t)))), h("tbody", null, items.map((e, i) => row(e, PALETTE[i % PALETTE.length])))),
    );
    const curves = await Promise.all(items.map((e) => getOptional(`/evaluations/${encodeURIComponent(e.id)}/curves`).catch(() => null)));
    if (stopped) return;
    const rows = curves.map((c) => c?.epochs || []);
    const key = JSON.stringify(rows.map((r) => r.map((x) => [x.epoch, x.test_acc])));
    if (key === chartKey) return;
    chartKey = key;
    const maxEpoch = Math.max(0, ...rows.map((r) => (r.length ? r[r.length - 1].epoch + 1 : 0)));
    const xs = Array.from({ length: maxEpoch }, (_, i) => i); // epochs from 0, as everywhere
    const data = [xs, ...rows.map((r) => {
      const byEpoch = new Map(r.map((x) => [x.epoch, x.test_acc]));
      return asPercent(xs.map((e) => byEpoch.get(e) ?? null));
    })];
    const series = items.map((e, i) => ({ label: `${e.protocol} ${e.id.slice(0, 8)}`, color: PALETTE[i % PALETTE.length] }));
    chart?.destroy();
    clear(chartEl);
    chart = lineChart(chartEl, { title: "Test accuracy", yLabel: "%", series, data });
  }

  async function refresh() {
    if (stopped) return;
    clearTimeout(timer);
    let items = [];
    try {
      items = listOf(await get(`/searches/${encodeURIComponent(searchId)}/evaluations?limit=8`), "evaluations");
      await draw(items);
    } catch (err) {
      clear(errorEl).append(problemBox(err, "Could not read the evaluations"));
    }
    if (!stopped && items.some((e) => !JOB_TERMINAL.has(e.status))) timer = setTimeout(refresh, POLL_MS);
  }

  refresh();
  return {
    el,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      chart?.destroy();
    },
  };
}

/** search id -> the newest succeeded evaluation of one of its genotypes (or nothing). */
export async function latestEvaluations(ids) {
  const found = await Promise.all(
    ids.map((id) =>
      get(`/evaluations?search_id=${encodeURIComponent(id)}&status=succeeded&limit=1`)
        .then((page) => listOf(page, "evaluations")[0] || null)
        .catch(() => null),
    ),
  );
  return new Map(ids.map((id, i) => [id, found[i]]));
}

export function evaluatedCell(evaluation) {
  if (!evaluation) return h("td", { class: "num muted", "data-field": "evaluated" }, "–");
  return h("td", { class: "num", "data-field": "evaluated", title: `${evaluation.protocol} protocol on ${evaluation.dataset}, ${num(evaluation.params_m, 2)}M params` }, pct(evaluation.test_acc));
}
