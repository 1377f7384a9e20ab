"""The ids a request path names, as bounded parameters: an id is a UUID's 36 characters, so a longer
one is refused with 422 naming the parameter before any query runs (a short unknown one is 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

ID_MAX_LENGTH = 36

SearchId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="a search's id")]
EvaluationId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="an evaluation's id")]
StudyId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="a study's id")]
JobId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="a landscape job's id")]
