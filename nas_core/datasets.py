"""The data sets a spec may name, with what the service knows about each without loading it: the
cost estimate's image side, class and image counts, whether it reads files under a data root (and
which files), what GET /catalog shows, and which of them this service can run (GET /datasets, so
the dashboard's New-search form offers what the workers can open). Torch-free; the loaders are in
nas_core/data.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nas_core.dataroots import DataRootError, DataRoots

#: Side of generated images (synthetic, digits) when the spec leaves dataset.image_size null.
DEFAULT_IMAGE_SIDE = 16
DEFAULT_NUM_CLASSES = 10
#: Training images of a synthetic set without dataset.subset.
SYNTHETIC_DEFAULT_SIZE = 4096


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    summary: str
    #: Classes; None where the spec sets them (dataset.num_classes).
    num_classes: int | None
    #: Image side in pixels; None where the spec sets it (dataset.image_size).
    image_side: int | None
    #: Training images (the whole set lives on the search device as uint8); None: generated.
    images: int | None
    #: Read from files under the operator's data root (never downloaded).
    file_backed: bool

    def listing(self) -> dict[str, Any]:
        return asdict(self)


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("cifar10", "CIFAR-10, 32×32 colour images", 10, 32, 50_000, True),
        DatasetInfo("cifar100", "CIFAR-100, 32×32 colour images", 100, 32, 50_000, True),
        DatasetInfo("imagenet16-120", "ImageNet16-120, 16×16 images of 120 classes", 120, 16, 151_700, True),
        DatasetInfo(
            "digits", "scikit-learn's 8×8 handwritten digits, resized (no files)", 10, None, 1_797, False
        ),
        DatasetInfo("synthetic", "generated class-dependent patterns (no files)", None, None, None, False),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def describe_datasets() -> list[dict[str, Any]]:
    return [d.listing() for d in DATASETS.values()]


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
    generated = [d.name for d in DATASETS.values() if not d.file_backed]
    out = [Availability(name, True, "generated", "generated in memory") for name in generated]
    for info in DATASETS.values():
        if not info.file_backed:
            continue
        try:
            found = find_layout(roots.candidates(info.name, None), FILE_LAYOUTS[info.name])
        except DataRootError:
            out.append(
                Availability(info.name, False, "files", "no data root is configured (FLATNAS_DATA_ROOT)")
            )
            continue
        reason = "found under the data root" if found else "its files are not under the data root"
        out.append(Availability(info.name, found is not None, "files", reason))
    return out
