"""Request deadlines at the API: ``deadline_ms`` in the body, or the ``X-Deadline-Ms`` header for SDKs that cannot
add body fields (the body wins when both are given). The model work stops at its next small batch after the
deadline (``core/deadline.py``); what the client gets then is each route's: the first-stage order with
``partial: true`` (``/v1/search``, ``/v1/rerank``), or a 504 in the route's error shape (``/v1/answer``, and the
Cohere and TEI shapes, whose results must carry real scores)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from core.deadline import DeadlineExceeded, run_within
from core.errors import InvalidInputError

Result = TypeVar("Result")
DEADLINE_HEADER = "X-Deadline-Ms"
MAX_DEADLINE_MS = 600_000
DeadlineMs = Annotated[int, Field(ge=1, le=MAX_DEADLINE_MS, strict=True)]  # a JSON integer: not "300", true or 300.0
DEADLINE_504 = {504: {"description": "The deadline (deadline_ms or X-Deadline-Ms) passed before the work finished; "
                                     "it was stopped"}}


def _header(value: Annotated[str | SkipJsonSchema[None], Header(
        alias=DEADLINE_HEADER, description=f"deadline_ms as a header, for clients that cannot add body fields: a "
        f"whole number of milliseconds from 1 to {MAX_DEADLINE_MS} (else a 422); the body's deadline_ms wins when "
        "both are given")] = None) -> int | None:
    """The header's deadline; anything but a whole number of milliseconds in 1..600000 is a 422 with a sentence.
    (Declared as a string: header values are; declared as a bounded integer, schemathesis' negative cases add
    undeclared headers and count the server's indifference to them as a failure.)"""
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_DEADLINE_MS:
        raise InvalidInputError(f"The {DEADLINE_HEADER} header must be a whole number of milliseconds from 1 to "
                                f"{MAX_DEADLINE_MS}, not '{text[:40]}'.")
    return int(text)


HeaderDeadline = Annotated[int | None, Depends(_header)]


def request_deadline(body_ms: int | None, header_ms: int | None) -> int | None:
    """The request's deadline: the body's, else the header's, else none."""
    return body_ms if body_ms is not None else header_ms


def within_or_504(work: Callable[[], Result], deadline_ms: int | None, what: str) -> Result:
    """``work()`` within ``deadline_ms``, else ``DeadlineExceeded`` (a 504 in the route's error shape) once it has
    passed, the work told to stop."""
    result = run_within(work, deadline_ms)
    if result is None and deadline_ms is not None:
        raise DeadlineExceeded(f"The deadline of {deadline_ms} ms passed before {what} was ready, and the work was "
                               "stopped: allow more time (deadline_ms) or ask for less.")
    return result
