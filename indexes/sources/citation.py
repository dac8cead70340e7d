"""What a citation says about a chunk's source: the file, the page and the span in that page's text."""
from __future__ import annotations

from typing import Any


def source_citation(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{id, name, page, start, end}`` of a chunk of an ingested file (``page`` None where the format has no pages);
    None for a document that came in as JSON."""
    meta = meta or {}
    if not isinstance(meta.get("source_id"), str):
        return None
    return {"id": meta["source_id"], "name": meta.get("source_name"), "page": meta.get("page"),
            "start": meta.get("start"), "end": meta.get("end")}
