"""The base of every spec model: unknown fields are refused, so a typo never falls back to a default;
values are taken as they are typed ("9", true or 1e3 are not integers, 1 is not a boolean), and
floats must be finite (Infinity, NaN and overflowing literals such as 1e309 are refused, not stored)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=False, validate_assignment=True, strict=True, allow_inf_nan=False
    )
