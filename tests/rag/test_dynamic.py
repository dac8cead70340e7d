"""DRAGIN's RIND and QFS, FLARE, and the dynamic-retrieval loop over a real collection with the real bundled
LLM; word grouping also with a SentencePiece (Metaspace) tokenizer built here."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from core.errors import InvalidInputError
from core.llm_backend import Generation, get_llm
from evals.dynamic_runner import yes_no
from rag.answer_formats import find_format
from rag.dynamic.attention import last_layer_attention
from rag.dynamic.loop import DynamicAnswerer, first_sentence
from rag.dynamic.policies import Written, dragin_query, flare_query
from rag.dynamic.qfs import qfs_query
from rag.dynamic.rind import rind
from rag.dynamic.words import group_words

MODEL = "smollm2-135m-instruct"
QUESTION = "Who founded the company Zorbleflax Quintronics, and when?"
INVENTED = "Zorbleflax Quintronics was founded by Vrenthal Mokasi in Ulbrecht in 1987."
BONE = "Does vitamin D deficiency affect bone health?"


def _scored(sentence: str) -> Generation:
    llm = get_llm(MODEL)
    return llm.score_continuation(QUESTION + "\n", llm.encode(" " + sentence))


def _sentencepiece() -> PreTrainedTokenizerFast:
    """A tiny Unigram tokenizer with SentencePiece's "▁" markers: ``decode([id])`` drops the leading space."""
    pieces = ["▁Zor", "ble", "flax", "▁was", "▁founded", "▁in", "▁1987", ".", "▁It", "▁is", "<0x0A>", "▁"]
    vocab = [("<unk>", 0.0)] + [(p, -2.0) for p in pieces] + [(c, -9.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    model = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    model.pre_tokenizer = pre_tokenizers.Metaspace()
    model.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>")


# -- words -------------------------------------------------------------------------------------------

def test_words_merge_subword_tokens_byte_level_bpe():
    llm = get_llm(MODEL)
    words = group_words(llm.tokenizer, llm.encode("Zorbleflax was founded."))
    assert [w.text for w in words] == ["Zorbleflax", "was", "founded."]
    assert [w.is_content for w in words] == [True, False, True]


def test_words_and_sentences_with_a_sentencepiece_tokenizer():
    tokenizer = _sentencepiece()
    ids = tokenizer.encode("Zorbleflax was founded in 1987. It is", add_special_tokens=False)
    assert tokenizer.decode(ids[3:4]) == "was"  # the trap: decode([id]) has no leading space here
    words = group_words(tokenizer, ids)
    assert [w.text for w in words] == ["Zorbleflax", "was", "founded", "in", "1987.", "It", "is"]
    assert words[0].tokens == (0, 1, 2)
    generation = Generation(tokenizer.decode(ids), ids, [0.0] * len(ids), [0.0] * len(ids))
    sentence = first_sentence(SimpleNamespace(tokenizer=tokenizer), generation)
    assert sentence.text == "Zorbleflax was founded in 1987." and len(sentence.token_ids) == 8


# -- RIND ----------------------------------------------------------------------------------------------

def test_rind_follows_the_reference_formula():
    """a = max over attending positions (diagonal included) per head, then the mean over heads; per word the
    sum of a over its tokens normalized by ALL words, entropy = mean over its tokens; θ before the filter."""
    llm = get_llm(MODEL)
    ids = llm.encode(" It was Zorbleflax.")  # words: It | was | Zorbleflax. (several tokens)
    words = group_words(llm.tokenizer, ids)
    assert [w.text for w in words] == ["It", "was", "Zorbleflax."] and len(words[2].tokens) > 1
    n = len(ids)
    attention = torch.zeros(2, n, n)
    attention[0] = torch.eye(n)  # head 0: every token attends to itself only → a = 1 from the diagonal
    attention[1, :, 0] = 1.0  # head 1: everything to token 0
    a = attention.max(dim=1).values.mean(dim=0)
    entropies = [0.5 * (i + 1) for i in range(n)]
    result = rind(llm.tokenizer, attention, 0, ids, entropies, threshold=0.0)
    a_words = [float(sum(a[t] for t in w.tokens)) for w in words]
    h_words = [sum(entropies[t] for t in w.tokens) / len(w.tokens) for w in words]
    expected = [aw / sum(a_words) * h * 3 for aw, h in zip(a_words, h_words)]
    assert result.scores == pytest.approx(expected)
    # "It" and "was" pass θ = 0 but are stopwords: the sentence fires, the triggering words exclude them
    stop = rind(llm.tokenizer, attention, 0, ids, [5.0, 5.0] + [0.0] * (n - 2), threshold=1.0)
    assert stop.fires and stop.over == [0, 1] and stop.triggered == []


def test_rind_fires_on_a_made_up_entity():
    llm = get_llm(MODEL)
    scored = _scored(INVENTED)
    result = rind(llm.tokenizer, last_layer_attention(llm, scored.token_ids), 0, scored.token_ids,
                  scored.entropies, threshold=1.2)
    assert result.fires
    assert {result.words[i].text.strip(".") for i in result.triggered} & {"Vrenthal", "Mokasi", "Ulbrecht", "1987"}
    assert not rind(llm.tokenizer, last_layer_attention(llm, scored.token_ids), 0, scored.token_ids,
                    scored.entropies, threshold=max(result.scores)).fires


def test_attention_rows_equal_a_full_eager_forward():
    llm = get_llm(MODEL)
    ids = llm.encode(" " + INVENTED)
    full = llm.full_attention(ids)[-1]
    assert torch.allclose(last_layer_attention(llm, ids), full, atol=1e-4)


# -- QFS -----------------------------------------------------------------------------------------------

def test_qfs_keeps_words_of_the_current_sentence_and_drops_the_trigger():
    llm = get_llm(MODEL)
    sentence = INVENTED.split()
    mokasi = sentence.index("Mokasi")
    query = qfs_query(llm, QUESTION, sentence, [mokasi], top_k=50).split()
    assert "Mokasi" not in query
    assert {"Zorbleflax", "founded", "Vrenthal"} <= set(query)  # sentence words before the trigger
    assert query[:3] == ["founded", "company", "Zorbleflax"] and "Who" not in query  # question's, in order
    top = qfs_query(llm, QUESTION, sentence, [mokasi], top_k=3).split()
    assert len(top) == 3 and [query.index(w) for w in top] == sorted(query.index(w) for w in top)


def test_qfs_without_triggering_content_words_takes_the_first_content_words():
    llm = get_llm(MODEL)
    assert qfs_query(llm, QUESTION, INVENTED.split(), [], top_k=4) == "founded company Zorbleflax Quintronics"


def test_dragin_query_is_none_below_threshold_and_qfs_above():
    llm = get_llm(MODEL)
    scored = _scored(INVENTED)
    written = Written(QUESTION, "", scored)
    assert dragin_query(llm, written, threshold=1e9, top_k=25, counter=None) is None
    query = dragin_query(llm, written, threshold=1.2, top_k=25, counter=None)
    assert query and "Zorbleflax" in query


# -- FLARE ---------------------------------------------------------------------------------------------

def test_flare_retrieves_on_mean_risk_and_masks_risky_tokens():
    llm = get_llm(MODEL)
    scored = _scored("It was founded by Vrenthal Mokasi.")
    risks = [1 - math.exp(lp) for lp in scored.logprobs]
    mean = sum(risks) / len(risks)
    assert flare_query(llm, scored, threshold=mean + 1e-6) is None
    query = flare_query(llm, scored, threshold=mean - 1e-6)
    kept = [t for t, r in zip(scored.token_ids, risks) if r <= mean - 1e-6]
    assert query == llm.tokenizer.decode(kept).strip() and len(kept) < len(risks)
    assert "Mokasi" not in query


# -- the loop --------------------------------------------------------------------------------------------

def _record_steps(answerer: DynamicAnswerer) -> list[int]:
    """Spy on the loop's generation steps: the number of passages in each step's prompt."""
    seen: list[int] = []
    step = answerer._step

    def recording(question, documents, *args, **kwargs):
        seen.append(len(documents))
        return step(question, documents, *args, **kwargs)

    answerer._step = recording
    return seen


def test_sentence_steps_write_what_one_greedy_generation_writes(built_slice):
    """A sentence cut at its end (no space added) lets the next sentence start as the model writes it, and a
    sentence capped by ``sentence_tokens`` continues: the steps add up to one uninterrupted generation."""
    answerer = DynamicAnswerer("slice", "none", max_new_tokens=40, sentence_tokens=6)
    result = answerer.run(BONE)
    llm = get_llm(MODEL)
    whole = llm.generate(llm.chat_prompt(f"Question: {BONE}", system=find_format("short").system_closed_book), 40)
    if "answer is" in whole.text:  # the loop stops after the sentence with the final answer
        end = whole.text.index("answer is")
        whole_text = whole.text[:end] + whole.text[end:].split(". ")[0]
        assert result.output.startswith(whole_text.strip())
    else:
        assert result.output == whole.text.strip()
    assert result.lm_calls > 2  # several capped steps, not a single capped fragment


def test_loop_counts_retrievals_and_model_calls(built_slice):
    none = DynamicAnswerer("slice", "none", max_new_tokens=24).run(BONE)
    single = DynamicAnswerer("slice", "single", max_new_tokens=24).run(BONE)
    assert none.queries == [] and single.queries == [BONE] and len(single.documents) == 3
    assert none.lm_calls >= 1 and single.output


def test_fixed_length_keeps_its_chunks_and_is_not_capped_at_five(built_slice):
    answerer = DynamicAnswerer("slice", "fixed-length", max_new_tokens=28, interval_tokens=4)
    steps = _record_steps(answerer)
    result = answerer.run(BONE)
    assert result.lm_calls == len(result.queries) == len(steps)  # one retrieval per chunk, no rewrites
    assert len(result.queries) > 5 or "answer is" in result.output
    assert result.queries[0] == BONE and steps[0] == 3
    assert all(query in result.output for query in result.queries[1:])  # each chunk kept and used as a query


def test_fixed_sentence_uses_each_sentence_as_the_next_query(built_slice):
    answerer = DynamicAnswerer("slice", "fixed-sentence", max_new_tokens=48)
    result = answerer.run(BONE)
    assert result.lm_calls == len(result.queries)
    assert result.queries[0] == BONE
    assert all(query in result.output for query in result.queries[1:])


def test_dragin_rewrites_with_the_passages_then_drops_them(built_slice):
    answerer = DynamicAnswerer("slice", "dragin", max_new_tokens=48, threshold=0.0)
    steps = _record_steps(answerer)
    result = answerer.run(BONE)
    retrievals = len(result.queries)
    assert retrievals, "θ = 0 makes every sentence with a word trigger"
    assert result.lm_calls == len(steps) and len(steps) - 2 * retrievals in (0, 1)  # a last draft may stand
    assert steps == [0, 3] * retrievals + [0] * (len(steps) - 2 * retrievals)  # rewrites only carry passages
    capped = DynamicAnswerer("slice", "dragin", max_new_tokens=48, threshold=0.0, max_retrievals=1).run(BONE)
    assert len(capped.queries) == 1
    with pytest.raises(InvalidInputError):
        DynamicAnswerer("slice", "sometimes")
    with pytest.raises(InvalidInputError, match="answer format"):
        DynamicAnswerer("slice", "none", answer_format="essay")


def test_flare_writes_the_rest_with_the_passages(built_slice):
    answerer = DynamicAnswerer("slice", "flare", max_new_tokens=40, flare_threshold=0.0)
    steps = _record_steps(answerer)
    result = answerer.run(BONE)
    assert len(result.queries) == 1 and result.lm_calls == 2 and steps == [0, 3]


def test_yes_no_format_makes_the_model_answer_yes_or_no(built_slice):
    result = DynamicAnswerer("slice", "none", max_new_tokens=40, answer_format="yes-no").run(
        "Is vitamin D made in the skin under sunlight?")
    assert yes_no(result.answer) or yes_no(result.output), result.output


def test_final_answer_extraction():
    final_answer = find_format("short").answer_span
    assert final_answer("He was born in 1950. So the answer is: Paris.") == "Paris"
    assert final_answer("It is Rome [2]. So the answer is: Rome [2].") == "Rome"
    assert final_answer("It is Rome. Then Milan.") == "Then Milan"
