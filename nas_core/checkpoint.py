"""Checkpoints at epoch boundaries: written atomically, found again by `latest`, RNG included.

A checkpoint is one torch file holding the search state (weights, α and the method's extra
parameters and state, both optimizers, the schedule, the search's generators), the global RNG
states, the history reported so far and the spec. `workdir/checkpoints/latest` names the newest.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

FORMAT_VERSION = 1
_NAME = re.compile(r"^epoch_(\d{4,})\.pt$")
#: Spec fields (dotted paths) that do not change what a search computes; a resume may differ in them.
RESUME_IGNORED_FIELDS = ("name", "tags", "priority", "runtime.keep_checkpoints")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used to resume (unreadable, or from a different spec)."""


def checkpoint_dir(workdir: str | Path) -> Path:
    return Path(workdir) / "checkpoints"


def capture_global_rng() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never half
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(workdir: str | Path, epoch: int, payload: dict[str, Any]) -> Path:
    """Write `epoch_XXXX.pt` (epoch = the 0-based epoch just completed) and point `latest` at it."""
    directory = checkpoint_dir(workdir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"epoch_{epoch:04d}.pt"
    body = {"format": FORMAT_VERSION, "epoch": epoch, "rng": capture_global_rng(), **payload}
    _atomic_write(path, lambda tmp: torch.save(body, tmp))
    _atomic_write(directory / "latest", lambda tmp: tmp.write_text(path.name + "\n"))
    return path


def prune_checkpoints(workdir: str | Path, keep: int | None, *, protect: int | None = None) -> list[Path]:
    """Delete epoch checkpoints beyond the newest `keep` (None keeps every one), except the one of
    epoch `protect` (the best epoch's, which barriers and re-derivations come back to) and the one
    `latest` names. Returns the deleted paths. Deleting is safe at any point: each file is whole."""
    if keep is None:
        return []
    if keep < 1:
        raise ValueError(f"runtime.keep_checkpoints: {keep} is not allowed; use 1 or more, or None for all")
    directory = checkpoint_dir(workdir)
    found = sorted((int(m.group(1)), p) for p in directory.glob("epoch_*.pt") if (m := _NAME.match(p.name)))
    newest = latest_checkpoint(workdir)
    removed = []
    for epoch, path in found[:-keep]:
        if epoch != protect and path != newest:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def latest_checkpoint(workdir: str | Path) -> Path | None:
    """The newest checkpoint in workdir: the one `latest` names, else the highest epoch file."""
    directory = checkpoint_dir(workdir)
    pointer = directory / "latest"
    if pointer.is_file():
        named = directory / pointer.read_text().strip()
        if named.is_file():
            return named
    found = sorted((int(m.group(1)), p) for p in directory.glob("epoch_*.pt") if (m := _NAME.match(p.name)))
    return found[-1][1] if found else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents on the CPU (the engine moves tensors where they belong)."""
    try:
        body = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(body, dict) or body.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a flatnas checkpoint of format {FORMAT_VERSION}")
    return body


def spec_changes(spec: BaseModel, saved_spec: dict[str, Any]) -> list[str]:
    """Dotted names of the fields in which `spec` differs from a checkpoint's saved spec.

    The saved spec is validated again as the same model (a search or an evaluation spec), so fields
    added to the model after the checkpoint was written take their defaults instead of counting as changes (an older checkpoint stays
    resumable); fields in RESUME_IGNORED_FIELDS never count.
    """
    try:
        saved = type(spec).model_validate(saved_spec).model_dump(mode="json")
    except ValidationError:
        saved = saved_spec  # not a valid spec today: compare as written, the difference is reported
    before, after = _flatten(saved), _flatten(spec.model_dump(mode="json"))
    return sorted(
        k
        for k in set(before) | set(after)
        if before.get(k) != after.get(k)
        and not any(k == f or k.startswith(f + ".") for f in RESUME_IGNORED_FIELDS)
    )


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
