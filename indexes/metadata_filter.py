"""Haystack metadata filters as a request gives them: checked in shape before a search, applied with Haystack's
``document_matches_filter``, every malformed filter a 422 with Haystack's sentence (never a 500)."""
from __future__ import annotations

from typing import Any

from haystack import Document
from haystack.errors import FilterError
from haystack.utils.filters import document_matches_filter

from core.errors import InvalidInputError

LOGICAL = {"AND", "OR", "NOT"}
COMPARISONS = {"==", "!=", ">", ">=", "<", "<=", "in", "not in"}
MAX_DEPTH = 16


def check_filter(filters: Any, depth: int = 0) -> None:
    """InvalidInputError unless ``filters`` is a well-formed Haystack filter at most MAX_DEPTH levels deep."""
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"filters: nested more than {MAX_DEPTH} levels deep.")
    if not isinstance(filters, dict):
        raise InvalidInputError("filters: every condition must be an object.")
    operator = filters.get("operator")
    if operator in LOGICAL:
        conditions = filters.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise InvalidInputError(f"filters: '{operator}' needs a non-empty list of 'conditions'.")
        for condition in conditions:
            check_filter(condition, depth + 1)
        return
    if operator not in COMPARISONS:
        raise InvalidInputError(f"filters: unknown operator {operator!r}; use one of "
                                f"{', '.join(sorted(LOGICAL | COMPARISONS))}.")
    if not isinstance(filters.get("field"), str) or "value" not in filters:
        raise InvalidInputError(f"filters: a '{operator}' condition needs a 'field' string and a 'value'.")
    if operator in ("in", "not in") and not isinstance(filters["value"], list):
        raise InvalidInputError(f"filters: the value of '{operator}' must be a list.")


def matches(filters: dict[str, Any], document: Document) -> bool:
    """Whether ``document`` passes ``filters``; a comparison Haystack refuses (e.g. '>' on a string) is a 422."""
    try:
        return document_matches_filter(filters, document)
    except (FilterError, TypeError, ValueError) as error:
        raise InvalidInputError(f"filters: {error}") from None
