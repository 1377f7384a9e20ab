// Reading the API's search, curve and α documents into the few values the views draw.
// Kept in one place so a change of the API's shapes touches one module.

import { listOf } from "./api.js";
import { loadCatalog } from "./catalog.js";

export const STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];
export const ACTIVE = new Set(["queued", "running", "retrying"]);
export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

// Spaces, methods and data sets are the service's registries (GET /catalog, read once by
// catalog.js), never a list kept here.
const defaultOps = new Map(); // space name -> its default op set, once the catalog has loaded
export async function loadCatalogue() {
  const { spaces = [], methods = [], datasets = [] } = await loadCatalog();
  for (const sp of spaces) defaultOps.set(sp.name, sp.ops_variants?.default ?? []);
  return { spaces, methods, datasets };
}

export const specOf = (s) => (s && typeof s.spec === "object" && s.spec) || {};

export function methodOf(s) {
  return s.method ?? specOf(s).method ?? "?";
}

export function spaceOf(s) {
  return s.space ?? specOf(s).space ?? "?";
}

export function datasetOf(s) {
  const d = specOf(s).dataset;
  return s.dataset?.name ?? (typeof s.dataset === "string" ? s.dataset : null) ?? d?.name ?? "?";
}

export function a2mOf(s) {
  if (typeof s.a2m_enabled === "boolean") return s.a2m_enabled;
  const a = specOf(s).a2m;
  return !!a && a.enabled !== false;
}

export function tagsOf(s) {
  return s.tags ?? specOf(s).tags ?? [];
}

export function nameOf(s) {
  return s.name ?? specOf(s).name ?? String(s.id);
}

/** {fraction 0..1, epoch (from 0, as everywhere: API, CSV, CLI), totalEpochs, step, steps, phase, detail, eta} */
export function progressOf(s) {
  const p = (s && typeof s.progress === "object" && s.progress) || {};
  const totalEpochs = p.total_epochs ?? specOf(s).epochs ?? null;
  const steps = p.steps_per_epoch ?? p.total_steps ?? null;
  const epoch = p.epoch ?? null;
  const step = p.step ?? 0;
  let fraction = p.fraction ?? null;
  if (fraction === null && totalEpochs && epoch !== null) {
    const within = steps ? Math.min(step / steps, 1) : 0;
    fraction = (epoch + within) / totalEpochs;
  }
  if (s.status === "succeeded") fraction = 1;
  if (fraction === null) fraction = 0;
  return {
    fraction: Math.max(0, Math.min(1, fraction)),
    epoch,
    totalEpochs,
    step,
    steps,
    phase: p.phase ?? null,
    detail: p.detail ?? null,
    eta: s.eta_seconds ?? p.eta_seconds ?? null,
  };
}

/** Epochs are numbered from 0 everywhere: "epoch 1 of 0–2" is the middle one of three. */
export function epochLabel(epoch, totalEpochs) {
  // "of 0–0" says nothing for a one-epoch run: name it the only one (flatnas/labels.py says the same).
  return totalEpochs === 1 ? `epoch ${epoch} (the only one)` : `epoch ${epoch} of 0–${totalEpochs - 1}`;
}

const PHASE_WORDS = { train: "training", eval: "validating", flatness: "computing flatness metrics", score: "scoring architectures" };

/** What a running search is doing: "computing flatness metrics: hessian eigenvalue 1/5". */
export function activityLabel(phase, detail) {
  const words = PHASE_WORDS[phase] ?? phase ?? "";
  return detail ? `${words}: ${detail}` : words;
}

export function bestValAccOf(s) {
  const v = s.best_val_acc ?? s.best?.val_acc ?? s.summary?.best_val_acc ?? s.metrics?.best_val_acc;
  return typeof v === "number" ? v : null;
}

const CURVE_FIELDS = ["train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"];

/** Curves as a list of per-epoch rows sorted by epoch, from a row list or a columnar document. */
export function curvesOf(body) {
  let rows = listOf(body, "curves");
  if (!rows.length && body && Array.isArray(body.epoch)) {
    rows = body.epoch.map((e, i) => {
      const row = { epoch: e };
      for (const f of CURVE_FIELDS) if (Array.isArray(body[f])) row[f] = body[f][i];
      return row;
    });
  }
  return rows
    .filter((r) => r && typeof r.epoch === "number")
    .sort((a, b) => a.epoch - b.epoch);
}

/** α per epoch: [{epoch, alphas: {group: [[w per op] per edge]}}] sorted by epoch. */
export function alphasOf(body) {
  let rows = listOf(body, "alphas");
  if (!rows.length && body && typeof body === "object" && !Array.isArray(body)) {
    // {"0": {...}, "1": {...}} keyed by epoch
    const keys = Object.keys(body).filter((k) => /^\d+$/.test(k));
    rows = keys.map((k) => ({ epoch: Number(k), alphas: body[k] }));
  }
  return rows
    .map((r) => ({ epoch: r.epoch, alphas: r.alphas ?? r.alpha ?? r.values ?? {} }))
    .filter((r) => typeof r.epoch === "number" && r.alphas && typeof r.alphas === "object")
    .sort((a, b) => a.epoch - b.epoch);
}

export function flatnessOf(body) {
  return listOf(body, "flatness", "metrics").filter((r) => r && r.kind);
}

/** The ops vocabulary: the genotype's own list, else the space's default (from GET /spaces). */
export function opsOf(genotype, space) {
  if (genotype && Array.isArray(genotype.ops)) return genotype.ops;
  return defaultOps.get(space) ?? [];
}
