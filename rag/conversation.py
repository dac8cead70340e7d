"""A chat around a question: the client's system prompt and earlier turns, the retrieval query rewritten from
them (a follow-up such as "When?" is searched together with the turn it follows), and the history turns as the
answer prompt shows them (oldest dropped first when the prompt would not fit)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise

from core.stopwords import ENGLISH_STOPWORDS
from rag.answer_formats import CITATION

REWRITES = ("history", "none")
# words that point back into the conversation: a question holding one needs the turn it refers to
ANAPHORA = frozenset({"it", "its", "itself", "they", "them", "their", "theirs", "he", "him", "his", "she", "her",
                      "hers", "this", "that", "these", "those", "there", "then", "one", "ones", "former", "latter",
                      "same"})
EXISTENTIAL = re.compile(r"\b(is|are|was|were)\s+there\b", re.IGNORECASE)  # "Is there a vaccine?" points nowhere
FOLLOW_UP_START = re.compile(r"^\W*(and|but|also|what about|how about|what of)\b", re.IGNORECASE)  # "And in 1990?"
FOLLOW_UP_WORDS = 1  # a question with at most this many content words is read as a follow-up (e.g. "And insulin?")
CONTEXT_TURNS = 3  # at most this many earlier user turns are searched with a follow-up
ANSWER_WORDS = 30  # the previous answer's first words searched with a follow-up (it names what "he"/"it" is)
CONTEXT_WORDS, CONTEXT_CHARS = 80, 600  # at most this much of the conversation goes into a retrieval query
FOOTNOTE = re.compile(r"^\[\d{1,3}\]: .*$", re.MULTILINE)
_WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True)
class Conversation:
    """The client's system prompt and the earlier turns, oldest first: ``turns`` are (user, assistant) pairs
    for the answer prompt, ``questions`` every earlier user message (also one that got no reply)."""

    system: str | None = None
    turns: tuple[tuple[str, str], ...] = ()
    questions: tuple[str, ...] = ()

    def latest(self, count: int) -> Conversation:
        """The same conversation with only the newest ``count`` turns."""
        return replace(self, turns=self.turns[len(self.turns) - count:] if count else ())


def conversation(messages: list[tuple[str, str]]) -> tuple[str, Conversation]:
    """(the question: the last user message, the conversation before it) from (role, text) messages; system and
    developer messages join into the system prompt, consecutive messages of one role into one turn, and an
    assistant message with no user message before it (a greeting) or after the question is left out."""
    last = max((i for i, (role, _) in enumerate(messages) if role == "user"), default=-1)
    system = "\n\n".join(text.strip() for role, text in messages if role in ("system", "developer") and text.strip())
    merged: list[tuple[str, str]] = []
    for role, text in messages[:last]:
        if role not in ("user", "assistant") or not text.strip():
            continue
        if merged and merged[-1][0] == role:
            merged[-1] = (role, f"{merged[-1][1]}\n\n{text.strip()}")
        else:
            merged.append((role, text.strip()))
    questions = tuple(text for role, text in merged if role == "user")
    question = messages[last][1] if last >= 0 else ""
    return question, Conversation(system or None, _paired(merged), questions)


def _paired(merged: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(user, assistant) pairs of an alternating message list; a user message without a reply is left out."""
    return tuple((user, reply) for (role, user), (next_role, reply) in pairwise(merged)
                 if role == "user" and next_role == "assistant")


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOPWORDS]


def is_follow_up(question: str) -> bool:
    """Whether ``question`` needs the conversation to be understood: almost no content words ("When?"), a word
    that refers back ("Where was he born?", "What is it used for?") or a start that continues ("And at high
    altitude?", "What about children?")."""
    words = _WORD.findall(EXISTENTIAL.sub(" ", question).lower())
    return (len(content_words(question)) <= FOLLOW_UP_WORDS or any(w in ANAPHORA for w in words)
            or bool(FOLLOW_UP_START.match(question)))


def retrieval_query(question: str, chat: Conversation, rewrite: str = "history") -> str:
    """The query to retrieve for: ``question`` itself when it stands alone (or ``rewrite`` is "none"); for a
    follow-up, the earlier user turns back to the last one that stands alone (at most ``CONTEXT_TURNS``), the
    first words of the last answer, then the question ("Who discovered penicillin? Alexander Fleming. When?")."""
    if rewrite == "none" or not chat.questions or not is_follow_up(question):
        return question.strip()
    earlier: list[str] = []
    for previous in reversed(chat.questions[-CONTEXT_TURNS:]):
        earlier.insert(0, previous)
        if not is_follow_up(previous):
            break
    answer = history_reply(chat.turns[-1][1]).split()[:ANSWER_WORDS] if chat.turns else []
    context = " ".join(" ".join([*earlier, *answer]).split()[-CONTEXT_WORDS:])[-CONTEXT_CHARS:]
    return f"{context} {question.strip()}"


def history_reply(text: str) -> str:
    """An earlier answer as the prompt shows it: without its citation markers and footnote lines (they name the
    passages of another turn)."""
    text = CITATION.sub("", FOOTNOTE.sub("", text))
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]+", " ", text)).strip()


def history_turns(chat: Conversation, user_template: str) -> list[tuple[str, str]]:
    """The earlier turns as the answer prompt shows them: each question in ``user_template`` ({question}), each
    answer without its citations."""
    return [(user_template.format(question=user), history_reply(reply)) for user, reply in chat.turns]
