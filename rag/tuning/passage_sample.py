"""The passages a tuning run writes queries for: a seeded choice, the same for the same collection and seed."""
from __future__ import annotations

import hashlib

from haystack import Document

from core.errors import InvalidInputError
from indexes.collection import Collection

MIN_WORDS = 20  # a title or a one-line fragment gives the LLM nothing to ask about


def sample_passages(collection: Collection, count: int, seed: int) -> list[Document]:
    """``count`` of the collection's documents of at least ``MIN_WORDS`` words, ordered by a seeded hash of their
    ids; InvalidInputError when it holds fewer."""
    usable = [d for d in collection.store.iter_documents() if len((d.content or "").split()) >= MIN_WORDS]
    if len(usable) < count:
        raise InvalidInputError(f"Collection '{collection.name}' has {len(usable)} passages of at least {MIN_WORDS} "
                                f"words; tuning on {count} needs that many (use a smaller --passages).")
    usable.sort(key=lambda d: hashlib.sha256(f"{seed}:{d.id}".encode()).hexdigest())
    return usable[:count]


def held_out(source_id: str, share: float, seed: int) -> bool:
    """Whether a source passage's queries are kept out of training (the job's check), by a seeded hash."""
    digest = hashlib.sha256(f"heldout:{seed}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
