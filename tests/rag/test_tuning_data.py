"""The data of collection tuning: completions cleaned into queries, copies of the passage dropped, the round-trip
filter and the mined negatives over a real BM25 index, the seeded sample and held-out split."""
from __future__ import annotations

import pytest

from core.errors import InvalidInputError
from rag.tuning.passage_sample import held_out, sample_passages
from rag.tuning.query_generation import check_examples, clean_query, copied, demonstration_turns
from rag.tuning.round_trip import round_trip


@pytest.mark.parametrize("completion, query", [
    ("does vitamin D prevent fractures\nExplanation: ...", "does vitamin D prevent fractures"),
    ('Query: "statins and muscle pain"', "statins and muscle pain"),
    ("**Search query:** BRCA1 mutation risk", "BRCA1 mutation risk"),
    ("- aspirin colorectal cancer", "aspirin colorectal cancer"),
    ("   \n  ", ""),
    (" ".join(["word"] * 41), ""),
])
def test_completions_are_cleaned_into_one_query(completion, query) -> None:
    assert clean_query(completion) == query


def test_a_query_copied_from_the_passage_is_recognized() -> None:
    passage = "Vitamin D deficiency is common in older adults, and it raises the risk of hip fractures in winter."
    assert copied("vitamin D deficiency is common in older adults, and it raises", passage)
    assert not copied("does vitamin D deficiency raise hip fracture risk", passage)
    assert not copied("older adults", passage)  # too short to call a copy


def test_examples_are_two_to_eight_queries() -> None:
    assert check_examples([" a claim ", "", "another claim"]) == ["a claim", "another claim"]
    for bad in (["only one"], [f"q{i}" for i in range(9)], ["x " * 41, "short"]):
        with pytest.raises(InvalidInputError):
            check_examples(bad)


def test_round_trip_keeps_what_bm25_finds_again_and_mines_negatives_elsewhere(built_slice) -> None:
    from indexes.document_store import indexable_text

    collection = built_slice
    documents = sample_passages(collection, 3, seed=1)
    assert [d.id for d in documents] == [d.id for d in sample_passages(collection, 3, seed=1)]
    assert [d.id for d in documents] != [d.id for d in sample_passages(collection, 3, seed=2)]
    texts = [indexable_text(d) for d in documents]
    queries = [documents[0].meta["title"], "zebra marathon on the moon", ""]
    kept = round_trip(collection, queries, [d.id for d in documents], texts, negatives=3)
    assert (kept.empty, kept.not_found, len(kept.kept)) == (1, 1, 1)
    example = kept.kept[0]
    assert example.source_id == documents[0].id and example.source == texts[0]
    assert len(example.negative_ids) == 3 and documents[0].id not in example.negative_ids
    assert len(set(example.negative_ids)) == 3 and all(example.negatives)


def test_the_sample_refuses_more_passages_than_the_collection_has(built_slice) -> None:
    with pytest.raises(InvalidInputError, match="smaller --passages"):
        sample_passages(built_slice, 100_000, seed=1)


def test_the_held_out_split_is_seeded_and_near_its_share() -> None:
    ids = [str(i) for i in range(2000)]
    chosen = [i for i in ids if held_out(i, 0.2, 13)]
    assert chosen == [i for i in ids if held_out(i, 0.2, 13)] and 300 < len(chosen) < 500


def test_few_shot_demonstrations_pair_each_example_with_the_passage_bm25_finds(built_slice) -> None:
    collection = built_slice
    examples = ["Vitamin D deficiency increases fracture risk.", "Statins cause muscle pain."]
    turns = demonstration_turns(collection, examples)
    assert [answer for _, answer in turns] == examples
    assert all(user.startswith("Write one search query") and "Passage: " in user for user, _ in turns)
    assert [answer for _, answer in demonstration_turns()] != examples  # the generic ones without examples

