"""DRAGIN's RIND and QFS with the real bundled LLM, and the dynamic-retrieval loop over a real collection."""
from __future__ import annotations

import pytest

from core.errors import InvalidInputError
from core.llm_backend import get_llm
from evals.dynamic_runner import yes_no
from rag.dynamic.attention import read_attention
from rag.dynamic.loop import DynamicAnswerer, final_answer
from rag.dynamic.policies import flare_query
from rag.dynamic.qfs import qfs_query
from rag.dynamic.rind import rind
from rag.dynamic.words import group_words

MODEL = "smollm2-135m-instruct"
QUESTION = "Who founded the company Zorbleflax Quintronics, and when?"


def _signals(sentence: str):
    llm = get_llm(MODEL)
    ids = llm.encode(" " + sentence)
    scored = llm.score_continuation(QUESTION + "\n", ids)
    return read_attention(llm, QUESTION, ids), scored


def test_rind_fires_on_a_made_up_entity_and_not_on_stopwords():
    attention, scored = _signals("Zorbleflax Quintronics was founded by Vrenthal Mokasi in Ulbrecht in 1987.")
    invented = rind(attention, scored.entropies, threshold=1.2)
    assert invented.fires
    fired = {attention.sentence_words[i].text.strip(".") for i in invented.triggered}
    assert fired & {"Vrenthal", "Mokasi", "Ulbrecht", "1987"}, fired
    attention, scored = _signals("It is what it is, and so it was, as it had been.")
    assert not rind(attention, scored.entropies, threshold=1.2).fires


def test_qfs_query_is_the_attended_content_words_in_order():
    attention, scored = _signals("Zorbleflax Quintronics was founded by Vrenthal Mokasi in Ulbrecht in 1987.")
    result = rind(attention, scored.entropies, threshold=1.2)
    query = qfs_query(attention, result.triggered, top_k=3)
    words = query.split()
    context = [w.text.strip("?,.") for w in attention.context_words]
    assert 1 <= len(words) <= 3 and all(w in context for w in words)
    assert [context.index(w) for w in words] == sorted(context.index(w) for w in words)
    assert not {"the", "and", "Who"} & set(words)
    assert set(words) & {"Zorbleflax", "Quintronics", "founded", "company"}


def test_words_merge_subword_tokens():
    words = group_words(["Zor", "ble", "flax", " was", " founded", "."])
    assert [w.text for w in words] == ["Zorbleflax", "was", "founded."]
    assert [w.is_content for w in words] == [True, False, True]


def test_flare_masks_low_probability_tokens():
    llm = get_llm(MODEL)
    scored = llm.score_continuation(QUESTION + "\n", llm.encode(" It was founded by Vrenthal Mokasi."))
    query = flare_query(llm, scored, probability=0.05)
    assert query is not None and "Mokasi" not in query and "founded" in query
    assert flare_query(llm, scored, probability=1e-12) is None


@pytest.mark.parametrize("policy, calls", [("none", 0), ("single", 1)])
def test_loop_counts_retrievals_and_model_calls(built_slice, policy, calls):
    result = DynamicAnswerer("slice", policy, max_new_tokens=24, sentence_tokens=24).run(
        "Does vitamin D deficiency affect bone health?")
    assert len(result.queries) == calls and result.lm_calls >= 1 and result.output


def test_dragin_loop_retrieves_with_a_qfs_query(built_slice):
    answerer = DynamicAnswerer("slice", "dragin", max_new_tokens=48, sentence_tokens=24, threshold=0.0)
    result = answerer.run("Does vitamin D deficiency affect bone health?")
    assert result.queries, "θ = 0 makes every sentence with a content word trigger"
    assert result.lm_calls >= 2 * len(result.queries)
    with pytest.raises(InvalidInputError):
        DynamicAnswerer("slice", "sometimes")
    with pytest.raises(InvalidInputError, match="answer format"):
        DynamicAnswerer("slice", "none", answer_format="essay")


def test_yes_no_format_makes_the_model_answer_yes_or_no(built_slice):
    result = DynamicAnswerer("slice", "none", max_new_tokens=40, sentence_tokens=40, answer_format="yes-no").run(
        "Is vitamin D made in the skin under sunlight?")
    assert yes_no(result.answer) or yes_no(result.output), result.output


def test_final_answer_extraction():
    assert final_answer("He was born in 1950. So the answer is: Paris.") == "Paris"
    assert final_answer("It is Rome. Then Milan.") == "Then Milan"
