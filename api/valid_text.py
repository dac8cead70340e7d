"""The base of request bodies whose strings must be valid Unicode: a lone surrogate is a 422 naming its field,
before anything encodes it (the store, the tokenizers, the response)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from core.json_values import lone_surrogate


class ValidText(BaseModel):
    """Every string and key of the body, at any depth, is checked once, before the fields are validated."""

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        problem = lone_surrogate(data, "")
        if problem:
            raise ValueError(problem)
        return data
