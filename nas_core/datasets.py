"""The data sets a spec may name, with what the service knows about each without loading it: the
cost estimate's image side, class and image counts, whether it reads files under a data root, and
what GET /catalog shows. Torch-free; the loaders are in nas_core/data.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
        DatasetInfo("synthetic", "generated class-dependent patterns (no files)", None, None, None, False),
        DatasetInfo(
            "digits", "scikit-learn's 8×8 handwritten digits, resized (no files)", 10, None, 1_797, False
        ),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def describe_datasets() -> list[dict[str, Any]]:
    return [d.listing() for d in DATASETS.values()]
