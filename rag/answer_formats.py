"""Answer formats: what the model is asked to write, where its answer ends, and which span is scored.

``free`` is a short answer followed by the numbers of the supporting passages; ``short`` reasons in a few
sentences and ends with "So the answer is: X." (the format of the DRAGIN reference prompts, which gets
exact matches from small models); ``yes-no`` is ``short`` with X in {yes, no}. Generation stops at the end of
the format's answer (``stop``, a pattern over the generated text), so a small model does not run on until ``max_new_tokens``."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

from core.errors import InvalidInputError

CITATION = re.compile(r"\[(\d{1,3})\]")
DANGLING_CITATION = re.compile(r"\s*\[\d{0,3}$")
CITE = "Cite the passages that support each step by their number in brackets, e.g. [2]."
# "answer is: X." ends the answer once the next token starts a new sentence or line (so "3.5" and
# "Paris. [2]" are kept whole); the lookahead needs that next token, which ``Decoding.cut`` trims again.
FINAL_SENTENCE = re.compile(r"answer is:?[^\n]*?\S\.(?:\s*\[\d{1,3}\])*(?=[ \t]*\n|\s+[^\s\[])", re.IGNORECASE)
FINAL = re.compile(r"answer is:?\s*(.+?)(?:\.\s*$|\.\s|\n|$)", re.IGNORECASE)
PARAGRAPH_END = re.compile(r"\S\s*\n\s*\n")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass(frozen=True)
class Example:
    """A demonstration turn: the question (asked over ``EXAMPLE_PASSAGES``) and the reply with citations; the
    closed-book demonstration is the same reply without them. One example makes the small bundled models
    keep the format (without it SmolLM2-135M loops on "The answer is:" or copies a passage)."""

    question: str
    reply: str

    def turn(self, user: str, with_passages: bool) -> tuple[str, str]:
        """(the user-turn template ``user`` filled with the question, and ``EXAMPLE_PASSAGES`` when
        ``with_passages``; the reply)."""
        if with_passages:
            return user.format(passages=EXAMPLE_PASSAGES, question=self.question), self.reply
        return user.format(question=self.question), re.sub(r"\s*\[\d{1,3}\]", "", self.reply)


EXAMPLE_PASSAGES = ("[1] Eiffel Tower\nThe Eiffel Tower is a wrought-iron lattice tower in Paris, France, built by "
                    "Gustave Eiffel's company for the 1889 World's Fair.\n\n[2] Lyon\nLyon is the third-largest city "
                    "of France, at the confluence of the Rhône and the Saône.")


@dataclass(frozen=True)
class AnswerFormat:
    """One answer format: system prompts with and without passages, demonstrations, the stop rule, the
    scored span."""

    name: str
    system: str  # with numbered passages in the user message
    system_closed_book: str
    stop: re.Pattern[str]
    examples: tuple[Example, ...] = ()

    def example_turns(self, user: str, with_passages: bool) -> list[tuple[str, str]]:
        """The demonstrations as (user, assistant) turns in the user-turn template ``user``, over the example
        passages or closed-book."""
        return [example.turn(user, with_passages) for example in self.examples]

    def answer_span(self, text: str) -> str:
        """The part of the output that is the answer (scored by EM/F1): the X of "So the answer is: X",
        the first line for ``free``; citations and lead-ins removed."""
        if self.name == "free":
            first = next((line for line in text.strip().splitlines() if line.strip()), "")
            first = CITATION.sub("", first)
            first = re.sub(r"^\s*(the\s+)?answer\s*(is)?\s*[:\-]?\s*", "", first, flags=re.IGNORECASE)
            return first.strip().rstrip(".").strip()
        match = FINAL.search(text)
        if match:
            span = match.group(1)
        else:  # no final sentence: the last sentence stands for the answer
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
            span = sentences[-1] if sentences else ""
        span = DANGLING_CITATION.sub("", CITATION.sub("", span))  # "Paris [1" when max_new_tokens cut it
        return span.strip().strip('"').rstrip(".").strip()


ANSWER_FORMATS: dict[str, AnswerFormat] = {
    "short": AnswerFormat(
        "short",
        system="You answer questions from the numbered passages you are given. Reason step by step in short "
               f"sentences. {CITE} Finish with \"So the answer is: <answer>.\"",
        system_closed_book="Answer the question. Reason step by step in short sentences, then finish with "
                           "\"So the answer is: <answer>.\"",
        stop=FINAL_SENTENCE,
        examples=(Example("In which city is the tower built by Gustave Eiffel's company?",
                          "Gustave Eiffel's company built the Eiffel Tower [1]. It stands in Paris [1]. "
                          "So the answer is: Paris [1]."),)),
    "yes-no": AnswerFormat(
        "yes-no",
        system="You answer yes/no questions from the numbered passages you are given. Reason step by step in "
               f"short sentences. {CITE} Finish with \"So the answer is: yes.\" or \"So the answer is: no.\"",
        system_closed_book="Answer the yes/no question. Reason step by step in short sentences, then finish "
                           "with \"So the answer is: yes.\" or \"So the answer is: no.\"",
        stop=FINAL_SENTENCE,
        examples=(Example("Was the Eiffel Tower built for a World's Fair?",
                          "The Eiffel Tower was built for the 1889 World's Fair [1]. So the answer is: yes [1]."),
                  Example("Is the Eiffel Tower in Lyon?",
                          "The Eiffel Tower stands in Paris [1], and Lyon is another city [2]. "
                          "So the answer is: no [1]."))),
    "free": AnswerFormat(
        "free",
        system="You answer questions from the numbered passages you are given. Reply with the answer first, in "
               "a few words, then the numbers of the passages that support it in brackets, e.g. \"Paris [2]\".",
        system_closed_book="You answer questions. Reply with the answer only, in a few words.",
        stop=PARAGRAPH_END,
        examples=(Example("In which city is the Eiffel Tower?", "Paris [1]"),)),
}
# What an answer is when nothing is asked: /v1/answer's defaults and AnswerGenerator's (one table, one place)
DEFAULT_FORMAT = "short"
DEFAULT_MAX_NEW_TOKENS = 128


def find_format(name: str) -> AnswerFormat:
    """The format called ``name``; an unknown name is an InvalidInputError that lists the known ones."""
    if name not in ANSWER_FORMATS:
        raise InvalidInputError(f"Unknown answer format '{name}': choose one of {', '.join(ANSWER_FORMATS)}.")
    return ANSWER_FORMATS[name]


def normalize_answer(text: str) -> str:
    """An answer as the SQuAD / 2WikiMultihopQA evaluation scripts compare it: lower case, no punctuation, no
    articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())
