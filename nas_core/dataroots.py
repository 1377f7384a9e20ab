"""Where data-set files may be read from: the operator's data roots and a spec's relative sub-directory.

A spec that arrives over the API is untrusted, and the data sets are Python pickles, so a spec that
could point a worker at any directory could make it unpickle a file the submitter planted. Hence:
the operator configures one or more data roots (FLATNAS_DATA_ROOT, separated by os.pathsep); a spec
may name at most a *relative* sub-directory (`dataset.root`) of one of them; absolute paths, `~`
and `..` are refused, and so is any path whose real location (after following symbolic links)
leaves the roots. The API checks this when a search is submitted; the worker checks it again before
opening a file. Only the local command line (`DataRoots(..., allow_absolute=True)`), run by a user
who could open the files anyway, may name an absolute directory.

Messages name the data set and the relative path, never a root's location on the worker; a job's
error is passed through `public_error`, which renders any OSError's file relative to its root and
takes every root's location out of the text.
This module does not import torch: the API uses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

#: The setting (and, for the command line, environment variable) naming the data roots.
ROOT_ENV = "FLATNAS_DATA_ROOT"
#: The longest path a request may name, and the longest component of it, in UTF-8 bytes: what
#: common file systems allow (NAME_MAX), with room left under PATH_MAX for the data root itself.
MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255


class DataRootError(ValueError):
    """`dataset.root` is not allowed here; the message is safe to show to the submitter."""


@dataclass(frozen=True)
class DataRoots:
    """The directories data sets may be read from. `allow_absolute`: a trusted local caller may
    also name an absolute directory in `dataset.root` (the CLI); services never set it."""

    roots: tuple[Path, ...] = ()
    allow_absolute: bool = False

    @classmethod
    def parse(cls, value: str | None, *, allow_absolute: bool = False) -> DataRoots:
        """Roots from a FLATNAS_DATA_ROOT value: one or more directories separated by os.pathsep."""
        parts = [p.strip() for p in (value or "").split(os.pathsep)]
        return cls(tuple(Path(p).expanduser() for p in parts if p), allow_absolute)

    def candidates(self, dataset: str, root: str | None) -> list[Path]:
        """The directories `dataset.root` may mean, each checked to stay inside its data root
        (in configuration order); raises DataRootError when it is not allowed."""
        if root is not None and self.allow_absolute and _is_absolute(root):
            return [Path(root).expanduser()]
        relative = check_relative(dataset, root)
        if not self.roots:
            raise DataRootError(
                f"dataset '{dataset}' is read from files, but no data root is configured here "
                "(the operator sets FLATNAS_DATA_ROOT); the data sets 'synthetic' and 'digits' need none"
            )
        return [confined(base, relative, dataset) for base in self.roots]


def check_path_length(path: str) -> str:
    """`path` unchanged, or ValueError when it is longer than MAX_PATH_BYTES or one of its
    components longer than MAX_COMPONENT_BYTES (UTF-8 bytes, as the file system counts them)."""
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise ValueError(f"is {size} bytes long; at most {MAX_PATH_BYTES} bytes (UTF-8) are allowed")
    for part in path.replace("\\", "/").split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_COMPONENT_BYTES:
            raise ValueError(
                f"has a component of {size} bytes ({part[:16]!r}...); at most {MAX_COMPONENT_BYTES} "
                "bytes (UTF-8) a component are allowed"
            )
    return path


def check_relative(dataset: str, root: str | None) -> PurePosixPath:
    """`dataset.root` as a relative path that cannot climb out of a root ('.' when unset)."""
    if root is None:
        return PurePosixPath(".")
    if "\x00" in root:
        raise DataRootError("must not contain a NUL character")
    root = root.replace("\\", "/")  # a Windows-style separator must not hide an absolute path
    if _is_absolute(root):
        raise DataRootError(
            f"dataset '{dataset}': {root!r} is absolute; name a sub-directory relative to the "
            "service's data root (e.g. 'cifar'), or leave dataset.root unset"
        )
    relative = PurePosixPath(root)
    if ".." in relative.parts:
        raise DataRootError(f"dataset '{dataset}': {root!r} climbs out of the data root with '..'")
    return relative


def confined(base: Path, relative: PurePosixPath, dataset: str) -> Path:
    """base/relative with every symbolic link resolved, refused when that leaves `base`."""
    real_base = Path(os.path.realpath(base))
    real = Path(os.path.realpath(real_base / relative))
    if not real.is_relative_to(real_base):
        raise DataRootError(
            f"dataset '{dataset}': {str(relative)!r} leads outside the data root (a symbolic link points "
            "elsewhere); only directories inside the data root may be read"
        )
    return real


def within(path: Path, roots: DataRoots, dataset: str, shown: str) -> Path:
    """The real location of a file about to be opened, refused unless it lies inside a data root
    (a link inside a root may point into another root, not anywhere else). `shown` names the
    file in messages."""
    real = Path(os.path.realpath(path))
    if roots.allow_absolute or any(real.is_relative_to(r) for r in _real_roots(roots)):
        return real
    raise DataRootError(
        f"dataset '{dataset}': {shown} leads outside the data roots (a symbolic link points elsewhere)"
    )


def _real_roots(roots: DataRoots) -> Iterator[Path]:
    for base in roots.roots:
        yield Path(os.path.realpath(base))


def _is_absolute(root: str) -> bool:
    return (
        root.startswith("~")
        or PurePosixPath(root).is_absolute()
        or PureWindowsPath(root).is_absolute()
        or bool(PureWindowsPath(root).drive)
    )


# --- errors safe to show ---------------------------------------------------------------------------


def public_error(err: BaseException, roots: Iterable[str | os.PathLike[str]]) -> str:
    """`Type: message` of `err` for a job's stored error, which any read key may see: an OSError
    names its file relative to the root that holds it (only its last component when none does),
    and the location of every root in `roots` (as given and resolved) is taken out of the text."""
    bases = _locations(roots)
    if isinstance(err, OSError) and err.filename is not None:
        message = f"[Errno {err.errno}] {err.strerror}: {_relative(err.filename, bases)!r}"
        if err.filename2 is not None:
            message += f" -> {_relative(err.filename2, bases)!r}"
    else:
        message = str(err)
    for base in bases:  # e.g. a message that quotes an OSError it wraps
        # The root followed by a separator (dropped), or ending a path (it becomes '.'); a longer
        # name that merely starts with it ('/data' in '/database') is left alone.
        pattern = re.escape(base) + r"(?:" + re.escape(os.sep) + r"|(?![\w.-]))"
        message = re.sub(pattern, lambda m: "" if m.group().endswith(os.sep) else ".", message)
    return f"{type(err).__name__}: {message}"


def _locations(roots: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Each root as given and resolved, normalised, longest first (so a root inside another is
    replaced as a whole); the file-system root itself hides nothing and is left out."""
    found: set[str] = set()
    for root in roots:
        given = os.path.normpath(os.fspath(root))
        found.update(p for p in (given, os.path.realpath(given)) if p not in (os.sep, ".", ""))
    return sorted(found, key=len, reverse=True)


def _relative(filename: object, bases: list[str]) -> str:
    path = os.path.normpath(os.fsdecode(filename)) if isinstance(filename, str | bytes) else str(filename)
    for base in bases:
        if path == base:
            return "."
        if path.startswith(base + os.sep):
            return path[len(base) + 1 :]
    return os.path.basename(path) if os.path.isabs(path) else path
