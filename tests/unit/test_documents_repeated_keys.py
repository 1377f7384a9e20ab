"""Spec files that name a key twice are refused with the line, not read as "the last one wins"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flatnas.documents import SpecFileError, read_spec_document


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "spec.yaml",
            "name: x\ntrain:\n  epochs: 1\n  epochs: 9\n",
            "spec.yaml:4:3: YAML error: the key 'epochs' appears twice",
        ),
        ("spec.json", '{"name": "x", "name": "y"}', "spec.json: JSON error: the key 'name' appears twice"),
    ],
)
def test_a_repeated_key_names_the_file_and_the_key(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecFileError) as caught:
        read_spec_document(path)
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_the_same_key_in_two_mappings_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("a: {epochs: 1}\nb: {epochs: 2}\n")
    assert read_spec_document(path) == {"a": {"epochs": 1}, "b": {"epochs": 2}}


@pytest.mark.parametrize(
    "text",
    [
        # `B` overrides the `x` it merges; `c` merges `B` after it was built...
        "a:\n  b: &B\n    <<: {x: 1}\n    x: 2\nc:\n  <<: *B\n",
        # ... or before (PyYAML flattens B's node while building c, then builds B itself)
        "c:\n  <<: &B\n    <<: {x: 1}\n    x: 2\nbase: *B\n",
    ],
)
def test_a_key_that_overrides_a_merged_one_is_not_a_repeat(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    assert read_spec_document(path) == yaml.safe_load(text)  # read as PyYAML reads it, not refused
