// Landscape jobs (of kind barrier, barrier_matrix or neighbourhood; all under /landscape-jobs) as
// the pages show them: followed by polling their GET address every second until they end, a
// one-line status, problem details.

import { get, ApiError } from "./api.js";
import { h, clear, errorText, fmtDuration } from "./dom.js";

export const POLL_MS = 1000;
export const JOB_TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
export const LANDSCAPE_JOBS = "/landscape-jobs";

/** GET address of one landscape job. */
export function landscapeJobPath(id) {
  return `${LANDSCAPE_JOBS}/${encodeURIComponent(id)}`;
}

/**
 * Call `onUpdate(job)` with `job`, then with GET `path` every second until the job is terminal.
 * A failed read goes to `onError(err)` and is retried (the API may be restarting). Returns stop().
 */
export function followJob(path, job, { onUpdate, onError = () => {} }) {
  let stopped = false;
  let timer = null;
  const step = (j) => {
    if (stopped) return;
    onUpdate(j);
    if (JOB_TERMINAL.has(j.status)) return;
    timer = setTimeout(async () => {
      if (stopped) return;
      try {
        step(await get(path));
      } catch (err) {
        if (stopped) return;
        onError(err);
        step(j);
      }
    }, POLL_MS);
  };
  step(job);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function jobLine(job) {
  const p = job.progress || {};
  const parts = [`landscape job ${job.id}`];
  if (p.phase && !JOB_TERMINAL.has(job.status)) parts.push(p.phase);
  if (job.worker && job.status === "running") parts.push(`on ${job.worker}`);
  const started = job.started_at ? new Date(job.started_at) : null;
  const ended = job.finished_at ? new Date(job.finished_at) : null;
  if (started) {
    const seconds = ((ended || new Date()) - started) / 1000;
    parts.push(`${JOB_TERMINAL.has(job.status) ? "took" : "running for"} ${seconds < 1 ? "under 1s" : fmtDuration(seconds)}`);
  }
  if (job.attempts > 1) parts.push(`attempt ${job.attempts}`);
  return parts.join(" · ");
}

/** Fill `el` with the job's status badge, a spinner while it runs, and its one-line summary. */
export function showJobStatus(el, job) {
  el.hidden = false;
  clear(el);
  el.dataset.status = job.status;
  el.dataset.job = job.id;
  el.append(h("span", { class: `badge status status-${job.status}`, "data-status": job.status }, job.status));
  if (!JOB_TERMINAL.has(job.status)) el.append(h("span", { class: "spinner", "aria-hidden": "true" }));
  el.append(h("span", { class: "muted small" }, jobLine(job)));
}

/** Problem details as a readable block: title, detail and each named field's message. */
export function problemBox(err, heading) {
  const box = h("div", { class: "error-box", role: "alert" }, h("h2", null, heading));
  const p = err instanceof ApiError ? err.problem : null;
  box.append(h("p", { class: "error-text" }, p ? [p.title, p.detail].filter(Boolean).join(": ") || `HTTP ${err.status}` : errorText(err)));
  const fields = err instanceof ApiError ? err.fieldErrors : [];
  if (fields.length) box.append(h("ul", { class: "field-errors" }, fields.map((f) => h("li", { "data-field": f.field }, h("code", null, f.field), " ", f.message))));
  return box;
}

/** The failed job's reason as an alert. */
export function jobErrorBox(job, heading) {
  return h("div", { class: "error-box", role: "alert" }, h("h2", null, heading), h("p", { class: "error-text" }, job.error || "no reason recorded"));
}
