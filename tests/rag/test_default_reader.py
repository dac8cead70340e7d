"""The default answer path (no model named): the shipped general reader, picked by the ``reader`` setting (a wrong
name says so); the issue's Kyoto question, which needs a step of reasoning the 135M reader does not take yet."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from haystack import Document

from core.errors import ModelUnavailableError
from core.settings import get_settings
from rag.answer_formats import normalize_answer
from rag.answer_generator import AnswerGenerator

MODEL = "smollm2-135m-instruct"
PASSAGES = [
    Document(id="kyoto", meta={"title": "Kyoto"},
             content="Kyoto is a city on the island of Honshu in Japan. It served as the capital of Japan and the "
                     "residence of the emperor from 794 until 1868, when the capital moved to Tokyo."),
    Document(id="tokyo", meta={"title": "Tokyo"},
             content="Tokyo is the capital and most populous city of Japan. It became the imperial capital in 1868, "
                     "when the emperor moved there from Kyoto."),
    Document(id="osaka", meta={"title": "Osaka"},
             content="Osaka is a large port city and commercial center on the Japanese island of Honshu. It is known "
                     "for its modern architecture, nightlife and street food."),
]


@pytest.fixture
def reader_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.delenv("SIFTRAG_READER", raising=False)
    get_settings.cache_clear()


@pytest.mark.xfail(strict=True, reason="reader-general answers 'Tokyo' (\"The capital of Japan is Tokyo [1]\"): the "
                   "question needs 'before Tokyo' read against 'until 1868, when the capital moved to Tokyo'")
def test_the_default_reader_answers_the_kyoto_question() -> None:
    generator = AnswerGenerator()
    result = generator.run("Which city was the capital of Japan before Tokyo?", PASSAGES)
    assert normalize_answer(result["answer"]) == "kyoto", result["meta"]["output"]
    assert "kyoto" in [d.id for d in result["documents"]]


def test_the_reader_setting_picks_the_default_and_a_wrong_name_is_a_clear_error(
        reader_setting: pytest.MonkeyPatch) -> None:
    default = AnswerGenerator()
    assert default.model == f"{MODEL}+reader-general" and default.passage_words == 100  # what it was trained on
    reader_setting.setenv("SIFTRAG_READER", "reader-2wiki")
    get_settings.cache_clear()
    assert AnswerGenerator().model == f"{MODEL}+reader-2wiki"
    assert AnswerGenerator(answer_format="yes-no").model == MODEL  # no reader of that format: the base
    reader_setting.setenv("SIFTRAG_READER", "")
    get_settings.cache_clear()
    assert AnswerGenerator().model == MODEL
    reader_setting.setenv("SIFTRAG_READER", "reader-nope")
    get_settings.cache_clear()
    with pytest.raises(ModelUnavailableError, match="'reader-nope', which is not a shipped reader: one of "
                                                    "reader-2wiki, reader-general"):
        AnswerGenerator()
