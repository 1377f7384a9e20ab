"""README.md and docs/operations.md hold one settings table, the one rendered from store/settings.py."""

from __future__ import annotations

import re

import pytest

from flatnas.transport import CLIENT_ENVIRONMENT
from store.settings import Settings
from store.settings_table import DOCUMENTS, END, ROOT, START, held, render, replaced


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_the_document_holds_every_setting(doc: str) -> None:
    table = held((ROOT / doc).read_text())
    documented = re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    expected = [*Settings.model_fields, *(name for name, _, _ in CLIENT_ENVIRONMENT)]
    assert documented == expected, f"{doc}: run `python -m store.settings_table --write`"


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_the_document_holds_the_rendered_table(doc: str) -> None:
    assert held((ROOT / doc).read_text()) == render(), (
        f"{doc}'s settings table differs from store/settings.py: run `python -m store.settings_table --write`"
    )


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_rendering_escapes_pipes_and_spells_defaults() -> None:
    table = render()
    assert "| `ENV` | `development` |" in table
    assert "| `FLATNAS_DATA_ROOT` | unset |" in table
    assert "| `LIMITS_ADMIN_OVERRIDE` | `false` |" in table
    assert "| `HEARTBEAT_TIMEOUT_S` | `120` |" in table  # a float default without its ".0"
    # Every row has exactly its three cells: no description ends one early with a bare `|`.
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 4 for row in table.splitlines())


def test_replaced_keeps_the_text_around_the_markers() -> None:
    text = f"before\n{START}\nold table\n{END}\nafter\n"
    assert replaced(text, "new table") == f"before\n{START}\nnew table\n{END}\nafter\n"
    assert held(replaced(text, "new table")) == "new table"
    with pytest.raises(ValueError, match="marker"):
        held("no markers here")
