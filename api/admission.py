"""What a submitted spec must satisfy beyond its schema before it is stored: its data set lies under
the operator's data roots (nas_core.dataroots).

Each failure is a 422 problem naming the field; the worker repeats the data-root check before it
opens a file, so a spec stored by any other path is held to the same rule.
"""

from __future__ import annotations

from api.errors import FieldError, ValidationProblem
from nas_core.dataroots import DataRootError, DataRoots
from nas_core.spec import SearchSpec
from store.settings import Settings


def check_data_root(spec: SearchSpec, settings: Settings) -> None:
    """422 naming `dataset.root` when it is absolute, climbs out with '..', or resolves (through a
    symbolic link) outside every data root; file-backed data sets also need a configured root."""
    dataset = spec.dataset
    if dataset.root is None and dataset.name in ("synthetic", "digits"):
        return
    try:
        DataRoots.parse(settings.FLATNAS_DATA_ROOT).candidates(dataset.name, dataset.root)
    except DataRootError as err:
        field = "dataset.root" if dataset.root is not None else "dataset.name"
        raise ValidationProblem(
            f"{field}: {err}", errors=[FieldError(field=field, message=str(err), location="body")]
        ) from None


def admit(spec: SearchSpec, settings: Settings) -> None:
    """Every admission check of a submitted search (raises the first failure as 422)."""
    check_data_root(spec, settings)
