"""Train and held-out test sets of an evaluation, on the device, plus the per-epoch batches.

CIFAR: the whole training split, tested on the test split. ImageNet16-120: the training batches,
tested on the validation file (`ImageNet16/val_data`, the benchmark's 120 classes); NAS-Bench-201's
own x-valid/x-test halves of that file come from a split file it ships, so the full file is used and
called `test` here. digits and synthetic have no test split: a fixed share (`dataset.test_portion`)
of a fixed shuffle is held out, the same for every seed, so runs with different seeds are tested on
the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nas_core.data import (
    IMAGENET16_CLASSES,
    PAD,
    ImageSet,
    _pickle_batches,
    augment,
    load_images,
    locate_files,
    steps_per_epoch,
)
from nas_core.dataroots import DataRoots
from nas_core.evaluation.protocol import EvalDataset

CIFAR10_TEST = ["cifar-10-batches-py/test_batch"]
CIFAR100_TEST = ["cifar-100-python/test"]
IMAGENET16_TEST = ["ImageNet16/val_data"]
#: Seed of the held-out shuffle of digits/synthetic: fixed, whatever the run's seed.
HOLDOUT_SEED = 0


@dataclass
class EvalData:
    train: ImageSet
    test: ImageSet
    mean: torch.Tensor  # (1,3,1,1), [0,255] units, from the training images
    std: torch.Tensor
    num_classes: int

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std

    def test_batches(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.test)
        return [
            (self.normalize(self.test.images[i : i + batch_size]), self.test.labels[i : i + batch_size])
            for i in range(0, n, batch_size)
        ]


def _test_files(cfg: EvalDataset, roots: DataRoots | None) -> tuple[np.ndarray, np.ndarray]:
    # Found like the training files: inside the data roots only (nas_core.dataroots).
    loader = cfg.loader_config()
    if cfg.name == "cifar10":
        return _pickle_batches(locate_files(loader, roots, [CIFAR10_TEST]), cfg.name, "labels", 32)
    if cfg.name == "cifar100":
        return _pickle_batches(locate_files(loader, roots, [CIFAR100_TEST]), cfg.name, "fine_labels", 32)
    flat = [Path(r).name for r in IMAGENET16_TEST]
    x, y = _pickle_batches(locate_files(loader, roots, [IMAGENET16_TEST, flat]), cfg.name, "labels", 16)
    keep = y <= IMAGENET16_CLASSES
    return x[keep], y[keep] - 1


def _on(
    device: torch.device | str, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    tx = torch.as_tensor(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    ty = torch.as_tensor(np.ascontiguousarray(y)) if isinstance(y, np.ndarray) else y
    return tx.to(device), ty.to(device)


def load_eval_data(
    cfg: EvalDataset, *, device: torch.device | str = "cpu", roots: DataRoots | None = None
) -> EvalData:
    """The training images (first `subset` if set) and the test images (first `test_subset`);
    file-backed sets come from `roots`."""
    full = load_images(cfg.loader_config(), seed=HOLDOUT_SEED, device="cpu", roots=roots)
    if cfg.name in ("digits", "synthetic"):
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(HOLDOUT_SEED))
        n_test = max(1, int(round(len(full) * cfg.test_portion)))
        test_idx, train_idx = order[:n_test], order[n_test:]
        train_x, train_y = full.images[train_idx], full.labels[train_idx]
        test_x, test_y = full.images[test_idx], full.labels[test_idx]
    else:
        train_x, train_y = full.images, full.labels
        tx, ty = _test_files(cfg, roots)
        test_x, test_y = torch.from_numpy(np.ascontiguousarray(tx)), torch.from_numpy(ty)
    if cfg.subset is not None:
        train_x, train_y = train_x[: cfg.subset], train_y[: cfg.subset]
    if cfg.test_subset is not None:
        test_x, test_y = test_x[: cfg.test_subset], test_y[: cfg.test_subset]
    k = full.num_classes
    train = ImageSet(*_on(device, train_x, train_y), num_classes=k, name=cfg.name)
    test = ImageSet(*_on(device, test_x, test_y), num_classes=k, name=cfg.name)
    pixels = train.images.float()
    mean = pixels.mean(dim=(0, 2, 3), keepdim=True)
    std = pixels.std(dim=(0, 2, 3), keepdim=True).clamp_min(1.0)
    return EvalData(train=train, test=test, mean=mean, std=std, num_classes=k)


def cutout(images: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a size×size square (clipped at the border) around each image's centre, as one mask.

    images (B,C,H,W) normalised; centres (B,2) integer (row, column) in [0,H)×[0,W).
    """
    _, _, h, w = images.shape
    half = size // 2
    rows = torch.arange(h, device=images.device)[None, :]
    cols = torch.arange(w, device=images.device)[None, :]
    in_rows = (rows >= centres[:, 0:1] - half) & (rows < centres[:, 0:1] - half + size)  # (B,H)
    in_cols = (cols >= centres[:, 1:2] - half) & (cols < centres[:, 1:2] - half + size)  # (B,W)
    hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return images.masked_fill(hole, 0.0)


class TrainBatches:
    """One epoch of training batches: a permutation and every augmentation draw made up front on
    the CPU generator (one transfer per epoch), each batch one gather, one crop/flip, one mask.
    Every batch is full (the last wraps round the permutation), so shapes never change."""

    def __init__(
        self, data: EvalData, batch_size: int, generator: torch.Generator, *, augment: bool, cutout: int
    ) -> None:
        self.data, self.batch_size, self.augment, self.cutout = data, batch_size, augment, cutout
        n = len(data.train)
        self.steps = steps_per_epoch(n, batch_size)
        total = self.steps * batch_size
        device = data.train.images.device
        reps = -(-total // n)
        self.index = torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])[:total].to(
            device
        )
        self.offsets = torch.randint(0, 2 * PAD + 1, (total, 2), generator=generator).to(device)
        self.flips = (torch.rand(total, generator=generator) < 0.5).to(device)
        side = data.image_size
        self.centres = torch.randint(0, side, (total, 2), generator=generator).to(device)

    def __len__(self) -> int:
        return self.steps

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        sl = slice(step * self.batch_size, (step + 1) * self.batch_size)
        index = self.index[sl]
        x = self.data.train.images[index]
        if self.augment:
            x = augment(x, self.offsets[sl], self.flips[sl])
        x = self.data.normalize(x)
        if self.cutout:
            x = cutout(x, self.centres[sl], self.cutout)
        return x, self.data.train.labels[index]
