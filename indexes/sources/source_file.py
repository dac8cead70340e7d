"""One uploaded file as a source: its metadata and its text, page by page where the format has pages."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceLimits:
    """Per-file limits: bytes of the file and characters of the text it converts to."""

    max_file_bytes: int
    max_text_chars: int


@dataclass
class SourceFile:
    """``pages`` holds the text of each page (PDF) or one entry for the whole text (``paged`` False)."""

    name: str
    source_id: str
    mime_type: str
    size: int
    sha256: str
    pages: list[str]
    paged: bool = False
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """What every chunk of this source carries about it (``source_*`` keys)."""
        meta = {"source_id": self.source_id, "source_name": self.name, "source_type": self.mime_type,
                "source_size": self.size, "source_sha256": self.sha256}
        if self.paged:
            meta["source_pages"] = len(self.pages)
        if self.title:
            meta["source_title"] = self.title
        return meta

    def summary(self) -> dict[str, Any]:
        """The source without its text (job results, listings)."""
        return {k: v for k, v in asdict(self).items() if k not in ("pages", "extra")} | {"pages": len(self.pages)}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
