// Compare searches: curves overlaid, genotypes side by side with differing edges, barrier matrix
// (barriers.js: computed on request, followed live).

import { get, getOptional, listOf } from "../api.js";
import { h, errorText, fmtNum } from "../dom.js";
import { nameOf, curvesOf, methodOf, a2mOf, spaceOf, datasetOf, specOf, flatnessOf } from "../model.js";
import { scalarsOf } from "../flatness.js";
import { lineChart, asPercent, PALETTE } from "../charts.js";
import { genotypeFigure, differingEdges, spaceOfGenotype } from "../cell.js";
import { epochMetrics, metricInfo, directionHint, hasBenchmark } from "../catalog.js";
import { statusBadge } from "./list.js";
import { barrierSection } from "../barriers.js";
import { groundTruthCompare } from "../groundtruth.js";
import { compareUrl, navigate, searchUrl } from "../router.js";
import { latestEvaluations, evaluatedCell } from "../evaluations.js";

const MAX_COMPARE = 8;

export async function render(root) {
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").map((x) => x.trim()).filter(Boolean).slice(0, MAX_COMPARE);
  const charts = [];
  const page = h("div", { class: "page" }, h("div", { class: "page-head" }, h("h1", null, "Compare searches")));
  root.append(page);

  const picker = await searchPicker(ids);
  page.append(picker);
  if (ids.length < 2) {
    page.append(h("div", { class: "card" }, h("p", { class: "empty" }, "Pick two or more searches above (or tick them in the searches list) to compare them.")));
    if (!ids.length) return () => {};
  }

  let loaded;
  try {
    loaded = await Promise.all(
      ids.map(async (id) => {
        const base = `/searches/${encodeURIComponent(id)}`;
        const [search, curves, genotype, benchmark, flatness] = await Promise.all([
          get(base),
          getOptional(`${base}/curves`).catch(() => null),
          getOptional(`${base}/genotype?which=best`).then((g) => g ?? getOptional(`${base}/genotype`)).catch(() => null),
          getOptional(`${base}/benchmark`).catch(() => null),
          getOptional(`${base}/flatness`).catch(() => null),
        ]);
        return { id, search, curves: curvesOf(curves), genotype, benchmark, flatness: flatnessOf(flatness) };
      }),
    );
  } catch (err) {
    page.append(h("div", { class: "card error-box" }, `Could not load: ${errorText(err)}`));
    return () => {};
  }
  loaded.forEach((x, i) => (x.color = PALETTE[i % PALETTE.length]));
  const evaluated = await latestEvaluations(ids);

  // Summary table
  page.append(
    h(
      "section",
      { class: "card section" },
      h("h2", null, "Searches"),
      h(
        "table",
        { class: "compact compare-table" },
        h("thead", null, h("tr", null, ["", "Name", "Status", "Method", "Space", "Dataset", "Epochs", "Best val acc", "Evaluated test acc"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          loaded.map((x) => {
            const accs = asPercent(x.curves.map((r) => r.val_acc ?? null)).filter((v) => v !== null);
            return h(
              "tr",
              { "data-id": x.id },
              h("td", null, h("span", { class: "swatch", style: `background:${x.color}` })),
              h("td", null, h("a", { href: searchUrl(x.id), "data-link": "" }, nameOf(x.search))),
              h("td", null, statusBadge(x.search.status)),
              h("td", null, methodOf(x.search), a2mOf(x.search) ? h("span", { class: "badge a2m" }, "A2M") : null),
              h("td", null, spaceOf(x.search)),
              h("td", null, datasetOf(x.search)),
              h("td", { class: "num" }, String(x.curves.length)),
              h("td", { class: "num" }, accs.length ? `${Math.max(...accs).toFixed(2)}%` : "–"),
              evaluatedCell(evaluated.get(x.id)),
            );
          }),
        ),
      ),
    ),
  );

  page.append(specDifferences(loaded));
  page.append(flatnessSideBySide(loaded));

  // Curves overlaid: one series per search on a shared epoch axis.
  const curvesEl = h("div", { class: "curves three-col" });
  page.append(h("section", { class: "card section" }, h("h2", null, "Curves"), curvesEl));
  const maxEpoch = Math.max(0, ...loaded.map((x) => x.curves.length ? x.curves[x.curves.length - 1].epoch + 1 : 0));
  const xs = Array.from({ length: maxEpoch }, (_, i) => i); // epochs from 0, as the API numbers them
  const column = (x, f) => {
    const byEpoch = new Map(x.curves.map((r) => [r.epoch, r[f]]));
    return xs.map((e) => byEpoch.get(e) ?? null);
  };
  const series = loaded.map((x) => ({ label: nameOf(x.search), color: x.color }));
  const specs = [
    ["Validation accuracy", "%", (x) => asPercent(column(x, "val_acc"))],
    ["Validation loss", "cross-entropy", (x) => column(x, "val_loss")],
    ["Train loss", "cross-entropy", (x) => column(x, "train_loss")],
  ];
  for (const [title, yLabel, fn] of specs) {
    const cell = h("div", { class: "chart-cell", "data-chart": title });
    curvesEl.append(cell);
    charts.push(lineChart(cell, { title, yLabel, series, data: [xs, ...loaded.map(fn)], height: 230 }));
  }

  // Genotypes side by side: an edge is highlighted where this search disagrees with any other.
  const genoEl = h("div", { class: "geno-row" });
  page.append(
    h(
      "section",
      { class: "card section" },
      h("div", { class: "section-head" }, h("h2", null, "Best genotypes"), h("span", { class: "muted small" }, "edges that differ between the searches are highlighted in yellow")),
      genoEl,
    ),
  );
  for (const x of loaded) {
    const diff = new Set();
    for (const y of loaded) {
      if (y === x || !x.genotype || !y.genotype || spaceOfGenotype(x.genotype) !== spaceOfGenotype(y.genotype)) continue;
      differingEdges(x.genotype, y.genotype).forEach((k) => diff.add(k));
    }
    genoEl.append(h("div", { class: "geno-col", "data-id": x.id, style: `--accent:${x.color}` }, genotypeFigure(x.genotype, { title: nameOf(x.search), diff, idPrefix: `cmp-${x.id}` })));
  }

  if (loaded.some((x) => hasBenchmark(spaceOf(x.search)))) {
    const gt = groundTruthCompare(loaded);
    page.append(gt.el);
    charts.push(gt);
  }

  const barriers = await barrierSection(loaded);
  page.append(barriers.el);

  return () => {
    barriers.stop();
    charts.forEach((c) => c.destroy());
  };
}

// Fields that label a search rather than change what it computes: not worth a warning.
const LABEL_FIELDS = new Set(["name", "tags", "priority"]);

function flatSpec(spec, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(spec || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!prefix && LABEL_FIELDS.has(k)) continue;
    if (v && typeof v === "object" && !Array.isArray(v)) flatSpec(v, key, out);
    else out[key] = JSON.stringify(v);
  }
  return out;
}

/** A warning listing the spec fields whose values differ: such searches are not like for like. */
function specDifferences(loaded) {
  const flat = loaded.map((x) => flatSpec(specOf(x.search)));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const differing = keys.filter((k) => new Set(flat.map((f) => f[k] ?? "—")).size > 1);
  if (!differing.length) {
    return h("p", { class: "card muted small", "data-spec-diff": "none" }, "All searches ran with the same settings (names, tags and priority aside).");
  }
  return h(
    "div",
    { class: "card warning-box spec-diff", role: "note", "data-spec-diff": String(differing.length) },
    h("strong", null, `Not run with the same settings: ${differing.length} spec field${differing.length === 1 ? " differs" : "s differ"}.`),
    h(
      "table",
      { class: "compact" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "field"), loaded.map((x) => h("th", { scope: "col" }, h("span", { class: "swatch", style: `background:${x.color}` }), " ", nameOf(x.search))))),
      h("tbody", null, differing.map((k) => h("tr", { "data-field": k }, h("th", { scope: "row" }, h("code", null, k)), flat.map((f) => h("td", null, f[k] ?? "—"))))),
    ),
  );
}

// The per-epoch metrics compared at each search's last metric epoch, and the neighbourhood at the end.
// Rows, labels, units and directions come from the catalog's epoch metrics.
function flatRows() {
  return epochMetrics().map(([kind, label]) => {
    const m = metricInfo(kind);
    const notes = [m?.unit && m.unit !== "fraction" ? m.unit : "", directionHint(kind)].filter(Boolean);
    return [kind, notes.length ? `${label} (${notes.join("; ")})` : label];
  });
}

function flatnessSideBySide(loaded) {
  const latest = (x, kind) => {
    const recs = x.flatness.filter((r) => r.kind === kind && r.epoch !== null && r.epoch !== undefined).sort((a, b) => a.epoch - b.epoch);
    return recs.length ? recs[recs.length - 1] : null;
  };
  const nbDrop = (x, radius) => {
    const rec = x.flatness.find((r) => r.kind === "neighbourhood" && r.epoch === null && (r.value?.radius ?? r.params?.radius) === radius && r.params?.source !== "on_demand");
    return typeof rec?.value?.acc_drop_mean === "number" ? { value: 100 * rec.value.acc_drop_mean, epoch: null } : null;
  };
  const rows = [
    ...flatRows().map(([kind, label]) => [kind, label, (x) => {
      const r = latest(x, kind);
      const v = r ? Object.values(scalarsOf(r.value))[0] : undefined;
      return typeof v === "number" ? { value: v, epoch: r.epoch } : null;
    }]),
    ["neighbourhood_r1", "neighbourhood acc drop, radius 1 (pp)", (x) => nbDrop(x, 1)],
    ["neighbourhood_r2", "neighbourhood acc drop, radius 2 (pp)", (x) => nbDrop(x, 2)],
  ];
  return h(
    "section",
    { class: "card section", "data-section": "flatness-compare" },
    h("div", { class: "section-head" }, h("h2", null, "Flatness"), h("span", { class: "muted small" }, "each search's last metric epoch; A2M aims for the flatter numbers")),
    h(
      "table",
      { class: "compact flat-compare" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "metric"), loaded.map((x) => h("th", { scope: "col", class: "num" }, h("span", { class: "swatch", style: `background:${x.color}` }), " ", nameOf(x.search), a2mOf(x.search) ? " (A2M)" : "")))),
      h(
        "tbody",
        null,
        rows.map(([kind, label, read]) =>
          h(
            "tr",
            { "data-metric": kind },
            h("th", { scope: "row" }, label),
            loaded.map((x) => {
              const got = read(x);
              return h("td", { class: "num", title: got?.epoch != null ? `epoch ${got.epoch}` : "" }, got ? `${fmtNum(got.value, 4)}${got.epoch != null ? ` @${got.epoch}` : ""}` : "not computed");
            }),
          ),
        ),
      ),
    ),
  );
}

async function searchPicker(ids) {
  const chosen = new Set(ids);
  let items = [];
  try {
    items = listOf(await get("/searches?limit=50"), "searches");
  } catch {
    /* the picker stays empty; ids in the URL still work */
  }
  const boxes = items.map((s) =>
    h(
      "label",
      { class: "pick" },
      h("input", { type: "checkbox", value: String(s.id), checked: chosen.has(String(s.id)) }),
      h("span", null, nameOf(s)),
      h("span", { class: "muted small" }, ` ${methodOf(s)}${a2mOf(s) ? "+A2M" : ""} · ${spaceOf(s)} · ${s.status}`),
    ),
  );
  const form = h(
    "form",
    {
      class: "picker",
      onsubmit: (ev) => {
        ev.preventDefault();
        const next = [...form.querySelectorAll("input:checked")].map((i) => i.value);
        navigate(next.length ? compareUrl(next) : "/dashboard/compare");
      },
    },
    h("div", { class: "pick-list" }, boxes.length ? boxes : h("p", { class: "muted" }, "No searches yet.")),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Compare selected")),
  );
  return h("details", { class: "card picker-card", open: ids.length < 2 }, h("summary", null, `Choose searches (${ids.length} selected)`), form);
}
