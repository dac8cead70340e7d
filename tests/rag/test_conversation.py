"""The conversation rules without a model: which questions are follow-ups, the retrieval query they get, the turns
the prompt shows, and how much of a streamed text a stop string can still cut."""
from __future__ import annotations

import pytest

from rag.conversation import conversation, history_turns, is_follow_up, retrieval_query
from rag.stop_strings import StopStrings

MESSAGES = [("system", "Be brief."), ("assistant", "Hello! Ask me anything."),
            ("user", "Who discovered penicillin?"), ("assistant", "Alexander Fleming [1].\n\n[1]: Penicillin — p1"),
            ("tool", "ignored"), ("user", "When?")]


@pytest.mark.parametrize("question, follow_up", [
    ("When?", True), ("Where was he born?", True), ("How many people live there?", True),
    ("And at high altitude?", True), ("What about in children?", True), ("Is it linked to breast cancer?", True),
    ("Who discovered insulin?", False), ("Is there a vaccine for malaria?", False),
    ("Does vitamin D deficiency affect bone health?", False)])
def test_follow_ups_are_short_refer_back_or_continue(question: str, follow_up: bool) -> None:
    assert is_follow_up(question) is follow_up


def test_the_conversation_and_the_retrieval_query_of_a_follow_up() -> None:
    question, chat = conversation(MESSAGES)
    assert question == "When?" and chat.system == "Be brief."
    assert chat.turns == (("Who discovered penicillin?", "Alexander Fleming [1].\n\n[1]: Penicillin — p1"),)
    assert history_turns(chat, "Question: {question}") == [("Question: Who discovered penicillin?",
                                                            "Alexander Fleming.")]
    assert retrieval_query(question, chat) == "Who discovered penicillin? Alexander Fleming. When?"
    assert retrieval_query(question, chat, "none") == "When?"
    assert retrieval_query("Who discovered insulin?", chat) == "Who discovered insulin?"
    assert chat.latest(0).turns == () and chat.latest(1) == chat


def test_a_chain_of_follow_ups_reaches_back_to_the_question_that_stands_alone() -> None:
    _, chat = conversation([("user", "Who discovered penicillin?"), ("assistant", "Fleming."),
                            ("user", "When?"), ("assistant", "In 1928."), ("user", "Where?")])
    assert retrieval_query("Where?", chat) == "Who discovered penicillin? When? In 1928. Where?"
    _, long_chat = conversation([("user", "x " * 5000 + "penicillin"), ("assistant", "y " * 5000), ("user", "When?")])
    assert len(retrieval_query("When?", long_chat)) <= 600 + len(" When?")


def test_stop_strings_cut_and_hold_back_what_may_start_one() -> None:
    stops = StopStrings(("So the answer", "\n\n"))
    assert stops.cut("Paris [1]. So the answer is: Paris.") == "Paris [1]. "
    assert stops.settled("Paris [1]. So the ans") == len("Paris [1]. ")
    assert stops.settled("Paris [1].\n") == len("Paris [1].")
    assert stops.settled("Paris [1]. So the answer is") == len("Paris [1]. ")
    assert stops.settled("Paris [1]") == len("Paris [1]")
    assert StopStrings().settled("anything") == len("anything")
