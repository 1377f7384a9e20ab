// What the service can run and measure (GET /catalog): spaces, methods, metrics and the flatness
// switches, data sets, evaluation protocols and the spec's defaults.
// Read once per page load (main.js awaits it before the first view), so the views ask it about a
// space, method or metric instead of branching on names; a space, method or metric registered on
// the server shows up here with no change to the dashboard.

import { get } from "./api.js";

let catalog = { spaces: [], methods: [], metrics: [], datasets: [], protocols: [], flatness_switches: [], spec_defaults: {} };
let loading = null;

/** Fetch the catalog once (again after a failure, e.g. before a key was entered). */
export function loadCatalog() {
  if (!loading) {
    loading = get("/catalog")
      .then((body) => {
        catalog = body;
        return catalog;
      })
      .catch((err) => {
        loading = null; // retried on the next render
        console.warn("catalog unavailable:", err.message);
        return catalog;
      });
  }
  return loading;
}

const byName = (list, name) => list.find((x) => x.name === name) || null;

export const spaceInfo = (name) => byName(catalog.spaces, name);
export const catalogSpaces = () => catalog.spaces;
/** Evaluation protocols in the server's order, each with its space and the form's fields. */
export const protocols = () => catalog.protocols || [];
export const datasetNames = () => catalog.datasets.map((d) => d.name);
export const datasetInfo = (name) => byName(catalog.datasets, name);
/** The spec.flatness flags that switch records: [{name, label, hint, description, default, phase, metrics}]. */
export const flatnessSwitches = () => catalog.flatness_switches || [];
/** The spec's default at a dotted path ("flatness.interval"); undefined where the catalog has none. */
export const specDefault = (path) => path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), catalog.spec_defaults);
export const methodInfo = (name) => byName(catalog.methods, name);

/** A metric's entry; ground-truth columns (gt_<dataset>_test_acc) are accuracies, higher better. */
export function metricInfo(name) {
  const found = byName(catalog.metrics, name);
  if (found) return found;
  if (/^gt_.*_test_acc$/.test(name)) return { name, label: name, description: "", unit: "fraction", direction: "higher", group: "accuracy" };
  return null;
}

/** Sampling methods score sampled architectures and have no α to measure. */
export const isSampling = (method) => methodInfo(method)?.kind === "sampling";

/** Whether the space has a tabular benchmark of trained results (ground truth). */
export const hasBenchmark = (space) => Boolean(spaceInfo(space)?.tabular_benchmark);

/** Flatness records of one phase in the order the search computes them: [[name, label], ...]. */
const phaseMetrics = (phase) => catalog.metrics.filter((m) => m.phase === phase).map((m) => [m.name, m.label]);
export const epochMetrics = () => phaseMetrics("epoch");
/** End-of-search records (neighbourhood, cell shape, …), once per search. */
export const endMetrics = () => phaseMetrics("end");

export const isAccuracy = (metric) => metricInfo(metric)?.unit === "fraction";
export const isSeconds = (metric) => metricInfo(metric)?.unit === "s";
/** Flatness-group metrics: the x axis of the study's scatter. */
export const isFlatness = (metric) => metricInfo(metric)?.group === "flatness";

/** "lower: flatter"-style hint for a metric with a direction, or "". */
export function directionHint(metric) {
  const m = metricInfo(metric);
  if (!m?.direction) return "";
  const word = m.group === "flatness" ? "flatter" : "better";
  return `${m.direction}: ${word}`;
}
