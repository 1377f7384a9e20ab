"""Data: device-resident sets, the contiguous split, augmentation, and errors that name the path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_core.data import (
    CIFAR10_FILES,
    DatasetError,
    EpochBatches,
    augment,
    load_images,
    load_search_data,
)
from nas_core.dataroots import DataRoots
from nas_core.spec import DatasetConfig

#: How the command line reads data: a local user may name any directory.
LOCAL = DataRoots(allow_absolute=True)


def write_fake_cifar10(root: Path, per_batch: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    all_data = []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with (directory / f"data_batch_{i}").open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        all_data.append(data)
    return np.concatenate(all_data)


def test_fake_cifar10_in_the_real_format_loads(tmp_path: Path) -> None:
    raw = write_fake_cifar10(tmp_path)
    images = load_images(DatasetConfig(name="cifar10", root=str(tmp_path)), seed=0, roots=LOCAL)
    assert images.images.shape == (30, 3, 32, 32) and images.images.dtype == torch.uint8
    # Row-major CHW as the CIFAR files store it: channel 0 is the first 1024 bytes.
    assert torch.equal(images.images[7, 0].flatten(), torch.from_numpy(raw[7, :1024]))
    assert images.num_classes == 10 and images.labels.dtype == torch.int64


def test_missing_root_names_the_path_and_expected_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as info:
        load_images(DatasetConfig(name="cifar10", root=str(missing)), seed=0, roots=LOCAL)
    assert str(missing) in str(info.value) and CIFAR10_FILES[0] in str(info.value)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_images(DatasetConfig(name="cifar10", root=str(tmp_path)), seed=0, roots=LOCAL)


def test_without_data_roots_file_backed_sets_say_what_to_configure() -> None:
    with pytest.raises(DatasetError, match=r"no data root is configured.*FLATNAS_DATA_ROOT"):
        load_images(DatasetConfig(name="cifar10"), seed=0)


def test_imagenet16_keeps_the_first_120_classes(tmp_path: Path) -> None:
    directory = tmp_path / "ImageNet16"
    directory.mkdir()
    for i in range(1, 11):
        labels = [1, 120, 121, 1000] if i == 1 else [5]
        data = np.full((len(labels), 768), i, dtype=np.uint8)
        with (directory / f"train_data_batch_{i}").open("wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    images = load_images(DatasetConfig(name="imagenet16-120", root=str(tmp_path)), seed=0, roots=LOCAL)
    assert images.labels.tolist() == [0, 119] + [4] * 9
    assert images.images.shape == (11, 3, 16, 16) and images.num_classes == 120


def test_digits_split_sizes_and_normalisation() -> None:
    data = load_search_data(DatasetConfig(name="digits", subset=1000), seed=0)
    assert (len(data.train), len(data.val)) == (500, 500)
    assert data.train.images.shape[1:] == (3, 16, 16)
    # The halves are contiguous: the weight half is the first 500 images of the set.
    full = load_images(DatasetConfig(name="digits"), seed=0)
    assert torch.equal(data.train.images, full.images[:500]) and torch.equal(
        data.val.images, full.images[500:1000]
    )
    x = data.normalize(data.train.images)
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-3 and (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2
    portion = load_search_data(DatasetConfig(name="digits", subset=100, train_portion=0.7), seed=0)
    assert (len(portion.train), len(portion.val)) == (70, 30)


def test_augment_matches_a_per_image_crop_and_flip() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 8, 8), generator=g, dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [8, 8], [4, 4], [2, 7], [5, 1]])
    flips = torch.tensor([False, True, False, True, True])
    out = augment(images, offsets, flips)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(5):
        oy, ox = offsets[i].tolist()
        crop = padded[i, :, oy : oy + 8, ox : ox + 8]
        assert torch.equal(out[i], crop.flip(-1) if flips[i] else crop)
    assert torch.equal(out[2], images[2])  # offset (4,4) without flip is the identity


def test_epoch_batches_are_seeded_static_and_cover_the_half() -> None:
    data = load_search_data(DatasetConfig(name="synthetic", subset=100, image_size=8), seed=3)
    first = EpochBatches(data, 16, torch.Generator().manual_seed(1), augment=True)
    again = EpochBatches(data, 16, torch.Generator().manual_seed(1), augment=True)
    other = EpochBatches(data, 16, torch.Generator().manual_seed(2), augment=True)
    assert len(first) == 4  # ceil(50/16); the last batch wraps round to keep shapes static
    for step in range(len(first)):
        a, b = first.batch(step), again.batch(step)
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert a[0].shape == (16, 3, 8, 8) and a[2].shape == (16, 3, 8, 8) and a[0].dtype == torch.float32
    assert not torch.equal(first.batch(0)[0], other.batch(0)[0])
    assert set(first.train_index.tolist()) == set(range(50))


def test_synthetic_is_seeded_and_class_dependent() -> None:
    cfg = DatasetConfig(name="synthetic", subset=400, image_size=8, num_classes=4)
    a, b = load_images(cfg, seed=0), load_images(cfg, seed=0)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, load_images(cfg, seed=1).images)
    means = torch.stack([a.images[a.labels == k].float().mean(0) for k in range(4)])
    assert (means[0] - means[1]).abs().mean() > 5  # class prototypes differ well beyond noise
