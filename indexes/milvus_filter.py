"""Haystack metadata filters as Milvus boolean expressions over the indexed ``meta`` JSON field, for the part of a
filter whose meaning is the same in both: ``==`` and ``in`` on numbers and plain strings, ``>``/``>=``/``<``/``<=``
on numbers, on ``meta.<name>`` fields, joined by AND/OR. An AND keeps the conditions it can translate (a superset);
anything else gives None. Milvus narrows the candidates, and the collection still checks every hit with Haystack's
own matcher against the stored document, so results are exactly Haystack's."""
from __future__ import annotations

import json
import re
from typing import Any

FIELD = re.compile(r"^meta\.([A-Za-z_][A-Za-z0-9_]*)$")
PLAIN_STRING = re.compile(r'^[^"\\]*$')
RANGE = {">", ">=", "<", "<="}


def _literal(value: Any, numbers_only: bool) -> str | None:
    if isinstance(value, bool) or value is None:
        return None  # Python's True == 1 is not JSON's
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str) and not numbers_only and PLAIN_STRING.match(value):
        return json.dumps(value)
    return None


def milvus_expression(filters: dict[str, Any]) -> str | None:
    """The Milvus expression for ``filters`` (a checked Haystack filter), or None when nothing translates."""
    operator = filters["operator"]
    if operator in ("AND", "OR"):
        parts = [milvus_expression(condition) for condition in filters["conditions"]]
        if operator == "OR" and None in parts:
            return None
        kept = [part for part in parts if part is not None]
        return "(" + f" {operator.lower()} ".join(kept) + ")" if kept else None
    if operator == "NOT":
        return None
    field = FIELD.match(filters["field"])
    if field is None:
        return None
    path = f'meta["{field.group(1)}"]'
    if operator == "==" or operator in RANGE:
        literal = _literal(filters["value"], numbers_only=operator in RANGE)
        return None if literal is None else f"{path} {operator} {literal}"
    if operator == "in" and filters["value"]:
        literals = [_literal(value, numbers_only=False) for value in filters["value"]]
        return None if None in literals else "(" + " or ".join(f"{path} == {lit}" for lit in literals) + ")"
    return None
