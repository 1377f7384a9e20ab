"""The production image, built the way the Dockerfile builds it (there is no Docker engine here):
exactly the paths its COPY lines name, copied into an empty directory, installed with
`pip install --no-deps .` into a fresh virtual environment, then the commands the image runs.

The fresh venv reuses this interpreter's installed dependencies through a .pth file (the image
installs them from pyproject's list in an earlier layer; downloading torch again would take
minutes). A .pth line only adds a directory to sys.path; the .pth files inside that directory are
not processed, so the editable install of the checkout does not leak in: every project module the
commands import comes from the copy (checked below).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.unit.test_dockerfile import REPO, dockerfile_copies

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def copy_like_the_image(build: Path) -> None:
    """Copy what the Dockerfile's COPY lines copy, to where they put it under WORKDIR."""
    for sources, destination in dockerfile_copies((REPO / "Dockerfile").read_text()):
        for source in sources:
            target = (
                build / destination / Path(source).name if destination.endswith("/") else build / destination
            )
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, target)


def fresh_venv(path: Path) -> Path:
    """A venv without pip whose sys.path ends with this interpreter's site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Where the running interpreter's dependencies live, from its own prefix (not a fixed path).
    ours = {
        sysconfig.get_path(kind, vars={"base": sys.prefix, "platbase": sys.prefix})
        for kind in ("purelib", "platlib")
    }
    Path(site, "image_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def test_the_image_copy_installs_and_runs_its_commands(tmp_path: Path) -> None:
    build, cwd = tmp_path / "app", tmp_path / "elsewhere"
    copy_like_the_image(build)
    cwd.mkdir()
    python = fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env |= {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "DATA_DIR": str(tmp_path / "data")}

    def run(*argv: str | Path) -> str:
        done = subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # As the Dockerfile: `pip install --no-deps .` in WORKDIR (the build backend comes from the
    # reused dependencies; --ignore-installed leaves the checkout's editable install alone).
    run(
        python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--ignore-installed", build
    )

    venv_site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    where = run(
        python,
        "-c",
        "import api, flatnas, nas_core, store, worker, migrations; "
        "print('\\n'.join(m.__file__ for m in (api, flatnas, nas_core, store, worker, migrations)))",
    )
    assert all(line.startswith(venv_site) for line in where.split()), where

    assert "create" in run(tmp_path / "venv" / "bin" / "flatnas", "keys", "--help")
    assert "upgrade" in run(python, "-m", "store.migrate", "--help")
    run(python, "-c", "from api.app import app; assert app.title")
    assert "alive" in run(python, "-m", "worker.health", "--help")
