"""The image holds every package the project installs: pyproject's package list and the
Dockerfile's COPY lines must name the same top-level packages (no Docker engine here to build it;
tests/integration/test_image_install.py installs from a copy of exactly what the image copies)."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dockerfile_copies(text: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY instruction (line continuations joined; COPY --from
    copies out of another stage, not out of the checkout, and is left out)."""
    joined = text.replace("\\\n", " ")
    copies = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        copies.append((args[:-1], args[-1]))
    return copies


def copied_paths(dockerfile: Path = REPO / "Dockerfile") -> list[str]:
    """Every checkout path the Dockerfile copies into the image."""
    return [source for sources, _ in dockerfile_copies(dockerfile.read_text()) for source in sources]


def installed_packages(pyproject: Path = REPO / "pyproject.toml") -> set[str]:
    """The top-level packages `pip install .` installs: [tool.setuptools.packages.find] include."""
    config = tomllib.loads(pyproject.read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.split(".")[0].rstrip("*") for pattern in include}


def test_the_dockerfile_copies_every_installed_package_and_no_other() -> None:
    copied = {path.rstrip("/") for path in copied_paths()}
    copied_packages = {path for path in copied if (REPO / path / "__init__.py").is_file()}
    packages = installed_packages()
    assert packages - copied_packages == set(), "installed by pyproject but not copied into the image"
    assert copied_packages - packages == set(), "copied into the image but not installed by pyproject"


def test_the_parsers_see_what_the_files_say() -> None:
    # So the comparison above cannot pass by parsing nothing.
    assert {"nas_core", "store", "api", "worker", "migrations", "flatnas"} <= installed_packages()
    copies = dockerfile_copies("COPY a b ./\nRUN x \\\n  && y\nCOPY --chown=1:1 c \\\n ./c\n")
    assert copies == [(["a", "b"], "./"), (["c"], "./c")]
    assert "pyproject.toml" in copied_paths()
