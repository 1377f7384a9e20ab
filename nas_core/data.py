"""Data sets on the device, the weight/architecture split, and batched augmentation as tensor ops.

The whole training set lives on the search device as uint8 (CIFAR-10 is 150 MB), so a step never
waits on a DataLoader: each epoch draws its permutations and augmentation parameters from one
seeded CPU `torch.Generator` (so a checkpoint at the epoch boundary fixes everything that follows),
moves them to the device once, and every batch is one gather (crop + flip) and one normalisation.
Nothing is ever downloaded.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas_core.dataroots import DataRootError, DataRoots, within
from nas_core.datasets import CIFAR10_FILES, CIFAR100_FILES, FILE_LAYOUTS, find_layout
from nas_core.spec import DatasetConfig

PAD = 4  # random-crop padding (docs/algorithms.md §2)
SYNTHETIC_DEFAULT_SIZE = 4096
DEFAULT_IMAGE_SIZE = 16

IMAGENET16_CLASSES = 120


class DatasetError(RuntimeError):
    """A data set that cannot be read: the message names the path and the files expected there."""


@dataclass
class ImageSet:
    """A whole data set as uint8 images (N,3,H,W) and int64 labels (N,), on one device."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# --- locating and reading files -------------------------------------------------------------------


def locate_files(cfg: DatasetConfig, roots: DataRoots | None, layouts: list[list[str]]) -> list[Path]:
    """The files of the first complete layout under the first directory `dataset.root` may mean
    (see nas_core.dataroots); each file's real location is checked to lie inside the data roots."""
    roots = roots if roots is not None else DataRoots()
    try:
        directories = roots.candidates(cfg.name, cfg.root)
        found = find_layout(directories, layouts)
        if found is not None:
            return [within(p, roots, cfg.name, r) for p, r in zip(*found, strict=True)]
    except DataRootError as err:
        raise DatasetError(str(err)) from err
    # Services name the relative path only; a local user may see where they pointed.
    where = ", ".join(map(str, directories)) if roots.allow_absolute else repr(cfg.root or ".")
    expected = layouts[0]
    raise DatasetError(
        f"dataset '{cfg.name}': missing under data root {where}: expected files "
        f"{', '.join(expected[:3])}{' ...' if len(expected) > 3 else ''} "
        f"(the torchvision / NAS-Bench-201 python-pickle layout; nothing is downloaded)"
    )


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays, and nothing that runs code:
    the data-set batches need no more, and a planted file gets an error instead of a shell."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("_codecs", "encode"),  # bytes pickled by Python 3 at protocol 2
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only arrays are allowed")
        return super().find_class(module, name)


def _read_pickle(path: Path, name: str, shown: str) -> dict:
    try:
        with path.open("rb") as f:
            entry = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except Exception as err:  # pickle raises many types on corrupt input; all mean the same here
        raise DatasetError(f"dataset '{name}': cannot read {shown} as a python pickle: {err}") from err
    if not isinstance(entry, dict):
        raise DatasetError(f"dataset '{name}': {shown} holds a {type(entry).__name__}, expected a dict batch")
    # Files written by python 2 carry bytes keys; normalise to str.
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in entry.items()}


def _pickle_batches(paths: list[Path], name: str, label_key: str, side: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path in paths:
        shown = path.name  # the file, not where the data root lives on this machine
        entry = _read_pickle(path, name, shown)
        if "data" not in entry or label_key not in entry:
            raise DatasetError(
                f"dataset '{name}': {shown} lacks keys 'data' and '{label_key}' (has {sorted(entry)[:6]})"
            )
        data = np.asarray(entry["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * side * side or len(entry[label_key]) != data.shape[0]:
            raise DatasetError(
                f"dataset '{name}': {shown} has data of shape {data.shape} and {len(entry[label_key])} "
                f"labels; expected (N, {3 * side * side}) and N labels"
            )
        images.append(data.reshape(-1, 3, side, side))
        labels.append(np.asarray(entry[label_key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _load_cifar(cfg: DatasetConfig, roots: DataRoots | None) -> tuple[np.ndarray, np.ndarray, int]:
    if cfg.name == "cifar10":
        paths = locate_files(cfg, roots, [CIFAR10_FILES])
        x, y = _pickle_batches(paths, cfg.name, "labels", 32)
        return x, y, 10
    paths = locate_files(cfg, roots, [CIFAR100_FILES])
    x, y = _pickle_batches(paths, cfg.name, "fine_labels", 32)
    return x, y, 100


def _load_imagenet16(cfg: DatasetConfig, roots: DataRoots | None) -> tuple[np.ndarray, np.ndarray, int]:
    # Accept both the parent directory and the ImageNet16 directory itself as root.
    paths = locate_files(cfg, roots, FILE_LAYOUTS["imagenet16-120"])
    x, y = _pickle_batches(paths, cfg.name, "labels", 16)
    keep = y <= IMAGENET16_CLASSES  # labels are 1..1000; NAS-Bench-201 keeps the first 120 classes
    return x[keep], y[keep] - 1, IMAGENET16_CLASSES


def _load_digits(image_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N,1,8,8) in [0,1]
    big = F.interpolate(small, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (big.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return x.numpy(), bunch.target.astype(np.int64), 10


def _make_synthetic(
    size: int, image_size: int, num_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Learnable images: each class is a smooth random colour pattern; samples add a shift and noise.

    Low-frequency prototypes survive crops and flips well enough that a supernet's accuracy rises
    within a few epochs, which is what tests and benchmarks need from it.
    """
    g = torch.Generator().manual_seed(10_007 + seed)
    coarse = torch.randn(num_classes, 3, 4, 4, generator=g)
    protos = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.randint(0, num_classes, (size,), generator=g)
    noise = torch.randn(size, 3, image_size, image_size, generator=g)
    brightness = 0.2 * torch.randn(size, 1, 1, 1, generator=g)
    x = protos[labels] + 0.5 * noise + brightness
    x = ((x / 4 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return x.numpy(), labels.numpy(), num_classes


def load_images(
    cfg: DatasetConfig, *, seed: int, device: torch.device | str = "cpu", roots: DataRoots | None = None
) -> ImageSet:
    """The training set named by `cfg` (first `cfg.subset` images if set), on `device`. File-backed
    sets are read from `roots` (nas_core.dataroots); without roots only generated sets load."""
    name = cfg.name
    if name in ("cifar10", "cifar100"):
        x, y, k = _load_cifar(cfg, roots)
    elif name == "imagenet16-120":
        x, y, k = _load_imagenet16(cfg, roots)
    elif name == "digits":
        x, y, k = _load_digits(cfg.image_size or DEFAULT_IMAGE_SIZE)
    elif name == "synthetic":
        size = cfg.subset or SYNTHETIC_DEFAULT_SIZE
        x, y, k = _make_synthetic(size, cfg.image_size or DEFAULT_IMAGE_SIZE, cfg.num_classes or 10, seed)
    else:  # the spec's Literal already rejects this; kept for library callers
        raise DatasetError(
            f"dataset.name '{name}' is not one of cifar10, cifar100, imagenet16-120, synthetic, digits"
        )
    if cfg.subset is not None:
        x, y = x[: cfg.subset], y[: cfg.subset]
    images = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    labels = torch.from_numpy(np.ascontiguousarray(y)).to(device)
    return ImageSet(images=images, labels=labels, num_classes=k, name=name)


# --- the split and the batches --------------------------------------------------------------------


@dataclass
class SearchData:
    """The weight half and the architecture half of the training set, plus normalisation constants."""

    train: ImageSet
    val: ImageSet
    mean: torch.Tensor  # (1,3,1,1) float, in [0,255] units
    std: torch.Tensor
    num_classes: int

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std

    def eval_batches(
        self, batch_size: int, limit: int | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The architecture half (or its first `limit` images) in order, normalised, unaugmented."""
        n = len(self.val) if limit is None else min(limit, len(self.val))
        return [
            (self.normalize(self.val.images[i : i + batch_size]), self.val.labels[i : i + batch_size])
            for i in range(0, n, batch_size)
        ]


def split(images: ImageSet, train_portion: float) -> SearchData:
    """Contiguous split as the reference does: the first `train_portion` for w, the rest for α."""
    n = len(images)
    n_train = int(math.floor(n * train_portion))
    if n_train < 1 or n - n_train < 1:
        raise DatasetError(
            f"dataset '{images.name}' has {n} images: train_portion {train_portion} leaves a half empty"
        )
    train = ImageSet(images.images[:n_train], images.labels[:n_train], images.num_classes, images.name)
    val = ImageSet(images.images[n_train:], images.labels[n_train:], images.num_classes, images.name)
    pixels = train.images.float()
    mean = pixels.mean(dim=(0, 2, 3), keepdim=True)
    std = pixels.std(dim=(0, 2, 3), keepdim=True).clamp_min(1.0)
    return SearchData(train=train, val=val, mean=mean, std=std, num_classes=images.num_classes)


def load_search_data(
    cfg: DatasetConfig, *, seed: int, device: torch.device | str = "cpu", roots: DataRoots | None = None
) -> SearchData:
    return split(load_images(cfg, seed=seed, device=device, roots=roots), cfg.train_portion)


def augment(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Random crop from a zero-padded copy plus horizontal flip, as one gather over the batch.

    images (B,C,H,W); offsets (B,2) in [0, 2·pad]; flips (B,) bool. The flip is folded into the
    column index so crop and flip cost one indexing op.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    ar_h = torch.arange(h, device=images.device)
    ar_w = torch.arange(w, device=images.device)
    rows = offsets[:, 0:1] + ar_h  # (B,H)
    cols = offsets[:, 1:2] + torch.where(flips[:, None], w - 1 - ar_w, ar_w)  # (B,W)
    bi = torch.arange(b, device=images.device)[:, None, None, None]
    ci = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


class EpochBatches:
    """One epoch's batches: index and augmentation tensors drawn up front, gathered per step.

    The weight half is walked in a fresh permutation; the architecture half in its own
    permutation ("a random batch"), cycled if the halves differ in size. Every batch has exactly
    `batch_size` images (the last weight batch wraps round to the permutation's start), so shapes
    stay static.
    """

    def __init__(
        self,
        data: SearchData,
        batch_size: int,
        generator: torch.Generator,
        *,
        augment: bool,
        arch_source: str = "val",
    ) -> None:
        self.data, self.batch_size, self.augment = data, batch_size, augment
        # Single-level methods (GAEA level=single) take α's batch from the weight half instead,
        # walked in its own permutation so it differs from the weight step's batch.
        self.arch_set = data.val if arch_source == "val" else data.train
        self.steps = steps_per_epoch(len(data.train), batch_size)
        total = self.steps * batch_size
        device = data.train.images.device
        self.train_index = _cycled_permutation(len(data.train), total, generator).to(device)
        self.val_index = _cycled_permutation(len(self.arch_set), total, generator).to(device)
        # Two halves × (offset pair, flip) per image.
        self.offsets = torch.randint(0, 2 * PAD + 1, (2, total, 2), generator=generator).to(device)
        self.flips = (torch.rand((2, total), generator=generator) < 0.5).to(device)

    def __len__(self) -> int:
        return self.steps

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_train, y_train, x_val, y_val) for `step`, normalised float tensors and labels."""
        sl = slice(step * self.batch_size, (step + 1) * self.batch_size)
        out = []
        for half, (subset, index) in enumerate(
            ((self.data.train, self.train_index[sl]), (self.arch_set, self.val_index[sl]))
        ):
            x = subset.images[index]
            if self.augment:
                x = augment(x, self.offsets[half, sl], self.flips[half, sl])
            out += [self.data.normalize(x), subset.labels[index]]
        return out[0], out[1], out[2], out[3]


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))


def _cycled_permutation(n: int, total: int, generator: torch.Generator) -> torch.Tensor:
    parts, have = [], 0
    while have < total:
        parts.append(torch.randperm(n, generator=generator))
        have += n
    return torch.cat(parts)[:total]
