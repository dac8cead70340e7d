"""A source's pages → chunk Documents by Haystack's ``DocumentSplitter`` (by word, with overlap), page by page so
that a chunk never spans two pages; each chunk's meta cites its source, page and character offsets."""
from __future__ import annotations

from functools import lru_cache

from haystack import Document

from core.settings import get_settings
from indexes.sources.source_file import SourceFile


@lru_cache(maxsize=8)
def splitter(words: int, overlap: int):
    from haystack.components.preprocessors import DocumentSplitter

    return DocumentSplitter(split_by="word", split_length=words, split_overlap=overlap)


def chunk_id(source_id: str, index: int) -> str:
    """Chunk ids derive from the source, so a re-upload overwrites the chunks it still has."""
    return f"{source_id}:{index}"


def chunk_source(source: SourceFile, words: int | None = None, overlap: int | None = None) -> list[Document]:
    """The chunks of ``source`` in reading order (``words``/``overlap``: the settings' ``chunk_words`` and
    ``chunk_overlap_words`` unless given): ``content`` is ``page_text[start:end]``; meta has ``source_id``,
    ``source_name``, ``page`` (1-based, PDFs), ``start``/``end`` (offsets in that page's text, the whole text where
    the format has no pages), ``chunk_index`` and the source's ``source_*`` fields."""
    settings = get_settings()
    words = words or settings.chunk_words
    overlap = settings.chunk_overlap_words if overlap is None else overlap
    pages = [Document(content=text, meta={"page": number})
             for number, text in enumerate(source.pages, start=1) if text.strip()]
    base = source.meta()
    chunks = []
    for split in splitter(words, min(overlap, words - 1)).run(documents=pages)["documents"]:
        if not split.content.strip():
            continue
        start = split.meta["split_idx_start"]
        meta = {**base, "chunk_index": len(chunks), "start": start, "end": start + len(split.content)}
        if source.paged:
            meta["page"] = split.meta["page"]
        chunks.append(Document(id=chunk_id(source.source_id, len(chunks)), content=split.content, meta=meta))
    return chunks
