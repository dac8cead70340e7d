"""Where each answer format ends (the stop rule over generated text) and which span is scored."""
from __future__ import annotations

import pytest

from core.errors import InvalidInputError
from core.llm_backend import Decoding
from rag.answer_formats import find_format


@pytest.mark.parametrize("text, kept", [
    ("It is in France. So the answer is: Paris. The", "It is in France. So the answer is: Paris."),
    ("So the answer is: Paris [2]. Then", "So the answer is: Paris [2]."),
    ("So the answer is: Paris. [2] [3]\nMore", "So the answer is: Paris. [2] [3]"),
    ("So the answer is: 3.5 km. Next", "So the answer is: 3.5 km."),
    ("So the answer is: yes.\n", "So the answer is: yes."),
])
def test_short_answers_stop_after_the_final_sentence_and_its_citations(text, kept):
    assert Decoding(find_format("short").stop).cut(text) == (kept, True)


@pytest.mark.parametrize("text", ["So the answer is: 3.", "So the answer is: Paris. [", "It is Paris. The end"])
def test_an_unfinished_final_sentence_does_not_stop(text):
    assert Decoding(find_format("yes-no").stop).cut(text) == (text, False)


def test_free_answers_stop_at_a_blank_line_and_score_the_first_line():
    form = find_format("free")
    assert Decoding(form.stop).cut("Paris [1]\n\nParis [1]") == ("Paris [1]\n\n", True)
    assert form.answer_span("The answer is: Paris [1].") == "Paris"


def test_short_answer_span_is_the_final_answer_without_citations():
    form = find_format("short")
    assert form.answer_span("Born in 1950 [1]. So the answer is: Gustave Eiffel [2].") == "Gustave Eiffel"
    assert form.answer_span("No final line. It is Rome.") == "It is Rome"
    assert form.answer_span("So the answer is: Love In Pawn [1") == "Love In Pawn"  # cut by max_new_tokens


def test_unknown_format_is_a_sentence():
    with pytest.raises(InvalidInputError, match="choose one of short, yes-no, free"):
        find_format("essay")
