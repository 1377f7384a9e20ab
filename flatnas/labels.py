"""Words for people about a running job, shared by the engine's progress bar and the client.

They live in the client package because the client installs without the engine (no torch).
"""

from __future__ import annotations

from typing import Any

PHASE_WORDS = {
    "train": "training",
    "eval": "validating",
    "flatness": "computing flatness metrics",
    "score": "scoring architectures",
}


def epoch_label(epoch: int, total_epochs: int) -> str:
    """Epochs are numbered from 0 everywhere (logs, curves, API, dashboard): "epoch 1 of 0–2";
    a one-epoch run's is "epoch 0 (the only one)" rather than "of 0–0"."""
    if total_epochs == 1:
        return f"epoch {epoch} (the only one)"
    return f"epoch {epoch} of 0–{total_epochs - 1}"


def activity_label(phase: str | None, detail: str | None = None) -> str:
    """What a search is doing, for people: "computing flatness metrics: hessian eigenvalue 1/4"."""
    words = PHASE_WORDS.get(phase or "", phase or "")
    return f"{words}: {detail}" if detail else words


def _job_parts(job: Any) -> list[str]:
    """What every job line says: id, status, epoch (from 0) and step, activity, share done, ETA."""
    p = job.progress
    parts = [f"{job.id}  {job.status}{' (cancel requested)' if job.cancel_requested else ''}"]
    if p is not None and p.total_epochs is not None and p.epoch is not None:
        step = f" step {p.step}/{p.steps_per_epoch}" if p.steps_per_epoch else ""
        parts.append(epoch_label(p.epoch, p.total_epochs) + step)
    if job.status == "running" and p is not None and p.phase:
        parts.append(activity_label(p.phase, p.detail))
    if p is not None and p.fraction is not None:
        parts.append(f"{100 * p.fraction:.0f}%")
    if job.eta_seconds is not None:
        parts.append(f"ETA {job.eta_seconds:.0f}s")
    return parts


def describe_search(s: Any) -> str:
    """One line for a search (a flatnas.models.Search): the job line and the best accuracy."""
    parts = _job_parts(s)
    if s.best_val_acc is not None:
        parts.append(f"best val acc {s.best_val_acc:.4f}")
    return "  ".join(parts)


def describe_evaluation(e: Any) -> str:
    """One line for an evaluation (a flatnas.models.Evaluation): the job line and test accuracy."""
    parts = _job_parts(e)
    if e.test_acc is not None:
        parts.append(f"test acc {e.test_acc:.4f}")
    elif e.latest_test_acc is not None:
        parts.append(f"latest test acc {e.latest_test_acc:.4f}")
    return "  ".join(parts)


def describe_study(study: Any) -> str:
    """One line for a study (a flatnas.models.Study): state counts of its searches and evaluations."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(study.counts.items()))
    if study.evaluate:
        counts += "; evaluations: " + (
            ", ".join(f"{n} {status}" for status, n in sorted(study.evaluation_counts.items())) or "none yet"
        )
    eta = f"  ETA {study.eta_seconds:.0f}s" if study.eta_seconds else ""
    return f"{study.id}  {study.status}  {100 * study.fraction:.0f}%  ({counts}){eta}"


def describe_job(job: Any) -> str:
    """One line for a landscape job (a flatnas.models.LandscapeJob)."""
    progress = job.progress or {}
    share = f"  {100 * progress['fraction']:.0f}%" if progress.get("fraction") is not None else ""
    error = f"  error: {job.error}" if job.error else ""
    return f"{job.id}  {job.kind}  {job.status}{share}{error}"
