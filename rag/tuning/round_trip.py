"""Round-trip filtering and negative mining (Promptagator's consistency filter, GPL's mined negatives): a synthetic
query is kept when the collection's first stage finds its source passage again in its top ``depth``; its negatives
are the best-ranked other passages of BM25 and, when the collection has one, of its dense index."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from indexes.collection import Collection
from indexes.document_store import indexable_text

ROUND_TRIP_DEPTH = 20


@dataclass(frozen=True)
class SyntheticExample:
    """A generated query, the passage it was written from, and mined negatives (ids and texts)."""

    query: str
    source_id: str
    source: str
    negative_ids: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RoundTrip:
    """What the filter kept, and what it dropped and why."""

    kept: list[SyntheticExample]
    empty: int  # completions that held no query
    not_found: int  # queries whose source passage was not in the first stage's top ``depth``


def negative_kinds(collection: Collection) -> tuple[str, ...]:
    """The index kinds negatives are mined from: BM25, and dense when the collection has a live dense index."""
    return ("bm25", "dense") if collection.versions("dense").current() else ("bm25",)


def round_trip(collection: Collection, queries: Sequence[str], source_ids: Sequence[str], sources: Sequence[str],
               negatives: int = 1, depth: int = ROUND_TRIP_DEPTH) -> RoundTrip:
    """Keep the queries whose source is in BM25's top ``depth``; give each ``negatives`` mined passages, taken
    best-ranked first alternately from each kind's list (the source and duplicates skipped)."""
    asked = [i for i, query in enumerate(queries) if query]
    kinds = negative_kinds(collection)
    hits = {kind: collection.search(kind, [queries[i] for i in asked], depth) for kind in kinds}
    kept, not_found = [], 0
    for row, i in enumerate(asked):
        if source_ids[i] not in {d.id for d in hits["bm25"][row]}:
            not_found += 1
            continue
        chosen: dict[str, str] = {}
        lists = [[d for d in hits[kind][row] if d.id != source_ids[i]] for kind in kinds]
        for rank in range(depth):
            for ranked in lists:
                if len(chosen) < negatives and rank < len(ranked) and ranked[rank].id not in chosen:
                    chosen[ranked[rank].id] = indexable_text(ranked[rank])
        kept.append(SyntheticExample(queries[i], source_ids[i], sources[i], list(chosen), list(chosen.values())))
    return RoundTrip(kept, empty=len(queries) - len(asked), not_found=not_found)
