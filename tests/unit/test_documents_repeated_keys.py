"""Spec files that name a key twice are refused with the line, not read as "the last one wins"."""

from __future__ import annotations

from pathlib import Path

import pytest

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
