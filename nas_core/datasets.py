"""Which data sets a service can run, without loading any: the generated ones (digits, synthetic)
always; a file-backed one (cifar10, cifar100, imagenet16-120) when its files lie under one of the
configured data roots (nas_core.dataroots). The API answers GET /datasets from this, so the
dashboard's New-search form offers what the workers can open instead of a data set that fails at
its first epoch. Torch-free: the API imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import get_args

from nas_core.dataroots import DataRootError, DataRoots
from nas_core.spec import DatasetName

#: Generated in memory: nothing to install, so every worker can run them.
GENERATED = ("digits", "synthetic")

CIFAR10_FILES = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
CIFAR100_FILES = ["cifar-100-python/train"]
IMAGENET16_FILES = [f"ImageNet16/train_data_batch_{i}" for i in range(1, 11)]
#: The training files of each file-backed set, in the layouts accepted (torchvision / NAS-Bench-201
#: python pickles; ImageNet16's root may be its parent directory or the directory itself).
FILE_LAYOUTS: dict[str, list[list[str]]] = {
    "cifar10": [CIFAR10_FILES],
    "cifar100": [CIFAR100_FILES],
    "imagenet16-120": [IMAGENET16_FILES, [f"train_data_batch_{i}" for i in range(1, 11)]],
}


def find_layout(directories: Iterable[Path], layouts: list[list[str]]) -> tuple[list[Path], list[str]] | None:
    """(paths, their relative names) of the first complete layout under the first directory that
    holds one, else None."""
    for directory in directories:
        for relative in layouts:
            paths = [directory / r for r in relative]
            if all(p.is_file() for p in paths):
                return paths, relative
    return None


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    source: str  # "generated" | "files"
    reason: str  # why not, or where from (never a root's location on the machine)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def availability(roots: DataRoots) -> list[Availability]:
    """Every data set a spec may name, generated ones first, each saying whether it can run here."""
    out = [Availability(name, True, "generated", "generated in memory") for name in GENERATED]
    for name in get_args(DatasetName):
        if name in GENERATED:
            continue
        try:
            found = find_layout(roots.candidates(name, None), FILE_LAYOUTS[name])
        except DataRootError:
            out.append(Availability(name, False, "files", "no data root is configured (FLATNAS_DATA_ROOT)"))
            continue
        reason = "found under the data root" if found else "its files are not under the data root"
        out.append(Availability(name, found is not None, "files", reason))
    return out
