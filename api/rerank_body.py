"""The body of ``POST /v1/rerank``: ours, or the Cohere v1 / Jina shape that those APIs' clients post to the same
path, told apart by shape: any of our own fields means ours; a Cohere-only field, or a document given as a string or
as an object without ``content``, means theirs."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from api.compat_schemas import CohereRerankRequest
from api.schemas import RerankRequest

OURS_ONLY = ("method", "collection", "passage_words", "top_k", "candidates", "retriever")
SHAPE_TAGS = ("siftrag", "cohere")
COHERE_ONLY = ("top_n", "return_documents", "rank_fields", "max_chunks_per_doc", "max_tokens_per_doc")


def rerank_shape(value: Any) -> str:
    """``siftrag`` or ``cohere`` for a raw body (or a parsed one)."""
    if not isinstance(value, dict):
        return "cohere" if isinstance(value, CohereRerankRequest) else "siftrag"
    if any(key in value for key in OURS_ONLY):
        return "siftrag"
    if any(key in value for key in COHERE_ONLY):
        return "cohere"
    documents = value.get("documents")
    theirs = isinstance(documents, list) and any(
        isinstance(d, str) or (isinstance(d, dict) and "content" not in d) for d in documents)
    return "cohere" if theirs else "siftrag"


RerankBody = Annotated[Annotated[RerankRequest, Tag("siftrag")] | Annotated[CohereRerankRequest, Tag("cohere")],
                       Discriminator(rerank_shape)]
