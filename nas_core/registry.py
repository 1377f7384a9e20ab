"""What the spaces, methods and metrics registries share: adding an entry under a new name, and
having it registered for the length of a `with` block (a plugin's test). Torch-free."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import TypeVar

E = TypeVar("E")


def add_entry(registry: MutableMapping[str, E], kind: str, name: str, entry: E) -> None:
    """Add `entry` as `name`; a name already taken is refused, naming the registry's `kind`."""
    if name in registry:
        raise ValueError(f"{kind}: {name!r} is already registered")
    registry[name] = entry


@contextmanager
def registered_while(
    register: Callable[[E], None], unregister: Callable[[str], None], entry: E, name: str
) -> Iterator[E]:
    """`entry` registered (through the registry's own `register`) until the block ends."""
    register(entry)
    try:
        yield entry
    finally:
        unregister(name)
