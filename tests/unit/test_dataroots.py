"""Data roots: a service reads data sets only from inside its configured roots, and never runs a
pickle's code. The planted pickles here would create a marker directory when unpickled naively."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from nas_core.data import CIFAR10_FILES, DatasetError, load_images
from nas_core.dataroots import DataRootError, DataRoots, check_path_length, check_relative, public_error
from nas_core.spec import DatasetConfig
from tests.unit.test_data import write_fake_cifar10


class _Planted:
    """Unpickling this calls os.mkdir(marker): a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def plant_cifar10(directory: Path, marker: Path) -> None:
    """A cifar-10 layout whose batch files run code when unpickled."""
    for relative in CIFAR10_FILES:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps({"data": _Planted(marker), "labels": []}))


def test_a_relative_sub_directory_of_the_root_loads(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    write_fake_cifar10(root / "cifar")
    images = load_images(DatasetConfig(name="cifar10", root="cifar"), seed=0, roots=DataRoots((root,)))
    assert len(images) == 30
    # Unset means the root itself; the second of two roots is searched too.
    write_fake_cifar10(tmp_path / "other")
    roots = DataRoots((tmp_path / "empty", tmp_path / "other"))
    assert len(load_images(DatasetConfig(name="cifar10"), seed=0, roots=roots)) == 30


@pytest.mark.parametrize(
    ("root", "why"),
    [
        ("/etc", "absolute"),
        ("~/cifar", "absolute"),
        ("C:\\data", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("../outside", "'..'"),
        ("cifar/../../outside", "'..'"),
        ("a\x00b", "NUL"),
    ],
)
def test_paths_that_leave_the_root_are_refused_before_any_lookup(root: str, why: str) -> None:
    with pytest.raises(DataRootError, match=why):
        check_relative("cifar10", root)


def test_a_planted_pickle_outside_the_root_is_never_loaded(tmp_path: Path) -> None:
    root, outside, marker = tmp_path / "datasets", tmp_path / "uploads", tmp_path / "pwned"
    root.mkdir()
    plant_cifar10(outside, marker)
    roots = DataRoots((root,))
    # Named directly, through '..', and through a symbolic link inside the root.
    (root / "link").symlink_to(outside, target_is_directory=True)
    for name in (str(outside), "../uploads", "link"):
        with pytest.raises(DatasetError) as info:
            load_images(DatasetConfig(name="cifar10", root=name), seed=0, roots=roots)
        message = str(info.value)
        assert "data root" in message and str(root) not in message  # no worker layout in messages
    # A link to a single file that points out of the root is refused the same way.
    (root / "cifar-10-batches-py").mkdir()
    for relative in CIFAR10_FILES:
        (root / relative).symlink_to(outside / relative)
    with pytest.raises(DatasetError, match="leads outside the data roots"):
        load_images(DatasetConfig(name="cifar10"), seed=0, roots=roots)
    assert not marker.exists()


def test_a_planted_pickle_inside_the_root_is_refused_not_run(tmp_path: Path) -> None:
    root, marker = tmp_path / "datasets", tmp_path / "pwned"
    plant_cifar10(root, marker)
    with pytest.raises(DatasetError, match=r"data_batch_1.*refusing to load posix\.mkdir"):
        load_images(DatasetConfig(name="cifar10"), seed=0, roots=DataRoots((root,)))
    assert not marker.exists()


def test_missing_files_name_the_relative_path_not_the_root(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    root.mkdir()
    with pytest.raises(DatasetError) as info:
        load_images(DatasetConfig(name="cifar10", root="cifar"), seed=0, roots=DataRoots((root,)))
    assert "'cifar'" in str(info.value) and CIFAR10_FILES[0] in str(info.value)
    assert str(tmp_path) not in str(info.value)


def test_the_local_cli_may_name_an_absolute_directory(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path / "mine")
    local = DataRoots.parse(None, allow_absolute=True)
    assert (
        len(load_images(DatasetConfig(name="cifar10", root=str(tmp_path / "mine")), seed=0, roots=local))
        == 30
    )
    # ... and a service may not.
    with pytest.raises(DatasetError, match="absolute"):
        load_images(DatasetConfig(name="cifar10", root=str(tmp_path / "mine")), seed=0, roots=DataRoots())


def test_roots_parse_from_a_path_list() -> None:
    roots = DataRoots.parse(f"/data/a{os.pathsep} /data/b {os.pathsep}")
    assert roots.roots == (Path("/data/a"), Path("/data/b")) and not roots.allow_absolute
    assert DataRoots.parse(None).roots == ()


def test_path_lengths_are_counted_in_utf8_bytes() -> None:
    assert check_path_length("/".join(["a" * 255] * 4)) == "/".join(["a" * 255] * 4)  # 1,023 bytes
    for bad in ("a" * 256, "é" * 128, "ok/" + "€" * 86, "/".join(["é" * 100] * 6)):
        with pytest.raises(ValueError, match="bytes"):
            check_path_length(bad)


def test_public_errors_name_files_relative_to_their_root(tmp_path: Path) -> None:
    root = tmp_path / "operator" / "data"
    root.mkdir(parents=True)
    (tmp_path / "link").symlink_to(root, target_is_directory=True)
    inside = OSError(36, "File name too long", str(root / "cifar" / "data_batch_1"))
    assert public_error(inside, [root]) == "OSError: [Errno 36] File name too long: 'cifar/data_batch_1'"
    # A root given through a symbolic link is hidden under its real location too.
    resolved = FileExistsError(17, "File exists", str(root / "x"), None, str(root / "y"))
    assert public_error(resolved, [tmp_path / "link"]).endswith(": 'x' -> 'y'")
    # A file outside every root: only its name.
    outside = PermissionError(13, "Permission denied", "/srv/secret/place/batch")
    assert public_error(outside, [root]) == "PermissionError: [Errno 13] Permission denied: 'batch'"
    # Any other message quoting a root (e.g. one that wraps an OSError) loses the root's location.
    wrapped = DatasetError(f"dataset 'cifar10': cannot read batch: [Errno 5] I/O error: '{root}/c/batch'")
    assert public_error(wrapped, [root]) == (
        "DatasetError: dataset 'cifar10': cannot read batch: [Errno 5] I/O error: 'c/batch'"
    )
    assert str(tmp_path) not in public_error(OSError(21, "Is a directory", str(root)), [root])


def test_only_the_root_itself_is_taken_out_of_a_message() -> None:
    err = RuntimeError("read /data/cifar/x, /data, '/data' but not /database/y or /data2")
    assert public_error(err, ["/data"]) == "RuntimeError: read cifar/x, ., '.' but not /database/y or /data2"
