"""Answer generation with the local LLM: the numbered-passage prompt in an answer format, generation that
stops at the end of the answer, validated citations, cost and finish reason in the meta."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Generator
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from core.adapters import shipped_adapters, split_model_name
from core.errors import InvalidInputError, ModelUnavailableError, TooLargeError
from core.llm_backend import CallCounter, Decoding, FinishReason, LLMBackend, PromptPrefix, get_llm
from core.settings import get_settings
from rag.answer_formats import DEFAULT_FORMAT, DEFAULT_MAX_NEW_TOKENS, find_format
from rag.answer_prompt import answer_messages, answer_template, cited_numbers, unknown_citations
from rag.conversation import Conversation, history_turns
from rag.stop_strings import StopStrings
from rag.yes_no_head import DECISION, YesNoHead, default_head, find_head

CITATION_TOKENS = 8  # what a decided yes/no answer may add after "So the answer is: X": " [2]." and an end
# the end of that addition: its first sentence end (with trailing citations) or line end, as in FINAL_SENTENCE
DECIDED_END = re.compile(r"^[^\n]*?(?:\.(?:\s*\[\d{1,3}\])*(?=[ \t]*\n|\s+[^\s\[])|(?=\n))")
TURN_MARKERS = 10  # the role markers of a (user, assistant) turn: 10 tokens in ChatML (SmolLM2, Qwen)
CHARS_PER_TOKEN = 16  # a turn longer than this many characters a token of room cannot fit: it is not tokenized


def default_reader(answer_format: str) -> str | None:
    """``BASE+ADAPTER`` of the settings' shipped reader when it was trained on the default LLM for ``answer_format``:
    it answers when no model is named (naming the base runs it untrained); else None."""
    settings = get_settings()
    if not settings.reader:
        return None
    shipped = shipped_adapters("readers")
    adapter = next((a for a in shipped if a.name == settings.reader), None)
    if adapter is None:
        raise ModelUnavailableError(f"The reader setting names '{settings.reader}', which is not a shipped reader: "
                                    f"one of {', '.join(a.name for a in shipped)}, or empty for the base LLM.")
    fits = adapter.base == settings.llm_model and adapter.training.get("answer_format") == answer_format
    return f"{settings.llm_model}+{adapter.name}" if fits else None


def answering_model(model: str | None, answer_format: str) -> str:
    """The LLM that answers: ``model`` when named, else the default reader for the format, else the settings'."""
    return model or default_reader(answer_format) or get_settings().llm_model


def yes_no_head(name: str | None, model: str, named_model: bool, answer_format: str) -> YesNoHead | None:
    """The head that decides ``yes-no`` answers: ``name`` (which must be trained on ``model``), else the shipped
    default of ``model`` unless the request named the model (naming the base runs it alone)."""
    if name is None:
        return default_head(model) if answer_format == "yes-no" and not named_model else None
    if answer_format != "yes-no":
        raise InvalidInputError(f"A yes/no head decides 'yes-no' answers, not '{answer_format}' ones.")
    head = find_head(name)
    if head.base != model:
        raise InvalidInputError(f"Yes/no head '{name}' reads the states of '{head.base}', not of '{model}'.")
    return head


def reader_passage_words(model: str) -> int | None:
    """The ``passage_words`` a reader adapter was trained with (None for a base model)."""
    adapter = split_model_name(model)[1]
    return adapter.training.get("passage_words") if adapter and adapter.training.get("objective") == "reader" else None


@component
class AnswerGenerator:
    """Writes an answer from ``documents`` (closed-book when there are none) and names the cited ones. Built with no
    arguments it is /v1/answer's default (``DEFAULT_FORMAT``, ``DEFAULT_MAX_NEW_TOKENS``, the shipped reader).

    ``model``: default the shipped reader adapter for the format, else the settings' LLM. ``answer_format``:
    ``free`` (the answer, then its citations), ``short`` (short reasoning ending in "So the answer is: X"; the
    answer is X) or ``yes-no``; ``passage_words`` cuts each passage in the prompt (default: a reader adapter's or
    a head's training value); ``repetition_penalty`` and ``no_repeat_ngram_size`` guard against loops (1.0 and 0: off);
    ``template``: the prompt sections ``system``, ``system_closed_book``, ``user`` ({passages}, {question})
    and ``user_closed_book`` ({question}), each defaulting to the format's (what reader adapters learned);
    ``decision_head``: a yes/no head (``rag.yes_no_head``) by name, which decides X of ``yes-no`` answers over
    passages (or closed-book, as it was fitted) while the model only adds its citation; default: the shipped head
    of the answering model when no model is named; ``stop``: strings that end the answer (not kept in it).
    ``conversation`` (``run``, ``stream``): a client's system prompt, said after the format's, and earlier turns,
    shown before the question (the oldest dropped while the prompt would not fit)."""

    def __init__(self, model: str | None = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 answer_format: str = DEFAULT_FORMAT,
                 passage_words: int | None = None, repetition_penalty: float = 1.0,
                 no_repeat_ngram_size: int = 0, template: dict[str, str] | None = None,
                 decision_head: str | None = None, stop: list[str] | None = None) -> None:
        if max_new_tokens < 1:
            raise InvalidInputError("max_new_tokens must be at least 1.")
        if passage_words is not None and passage_words < 1:
            raise InvalidInputError("passage_words must be at least 1.")
        if not 1.0 <= repetition_penalty <= 2.0 or no_repeat_ngram_size < 0:
            raise InvalidInputError("repetition_penalty must be within [1, 2] and no_repeat_ngram_size ≥ 0.")
        self.form = find_format(answer_format)
        self.template = answer_template(self.form, template)
        self.model = answering_model(model, answer_format)
        self.decision_head = yes_no_head(decision_head, self.model, named_model=model is not None,
                                         answer_format=answer_format)
        if passage_words is None:  # a reader adapter or a head works best on the passage cut it was trained on
            passage_words = (self.decision_head.passage_words if self.decision_head
                             else reader_passage_words(self.model))
        self.max_new_tokens = max_new_tokens
        self.answer_format = answer_format
        self.passage_words = passage_words
        self.repetition_penalty = repetition_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.decoding = Decoding(self.form.stop, repetition_penalty, no_repeat_ngram_size)
        self.decided_decoding = Decoding(DECIDED_END, repetition_penalty, no_repeat_ngram_size)
        self.stop = StopStrings(tuple(stop or ()))

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def warm_up(self) -> None:
        """Load the LLM into the cache ``run`` reads, before the first ``run``."""
        get_llm(self.model)

    def prompt(self, question: str, documents: list[Document], conversation: Conversation | None = None) -> str:
        """The chat prompt; too long a context is a 413 that says by how much."""
        prompt = self._chat_prompt(question, documents, conversation)
        needed = self.llm.count_tokens(prompt) + self.max_new_tokens
        if needed > self.llm.context_length:
            turns = f" and {len(conversation.turns)} earlier turns" if conversation and conversation.turns else ""
            raise TooLargeError(
                f"The prompt with {len(documents)} passages{turns} needs {needed} tokens (answer included) but "
                f"{self.model} reads at most {self.llm.context_length}: retrieve fewer passages or compress them.")
        return prompt

    def _chat_prompt(self, question: str, documents: list[Document], conversation: Conversation | None) -> str:
        if not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        system, user, examples = answer_messages(question, documents, self.form, self.passage_words,
                                                 self.template)
        if conversation:
            system = f"{system}\n\n{conversation.system}" if conversation.system else system
            examples = [*examples, *history_turns(conversation, self.template.user_closed_book)]
        return self.llm.chat_prompt(user, system=system, examples=examples)

    def fitted(self, question: str, documents: list[Document], conversation: Conversation) -> Conversation:
        """``conversation`` without its oldest turns, as many as must go for the prompt and the answer to fit the
        window ``history_window`` gives (each turn is counted alone first, then the whole prompt once more)."""
        llm, turns = self.llm, history_turns(conversation, self.template.user_closed_book)
        bare = llm.count_tokens(self._chat_prompt(question, documents, conversation.latest(0)))
        window = self.history_window(bare)
        room, kept = window - self.max_new_tokens - bare, 0
        for user, reply in reversed(turns):
            if len(user) + len(reply) > CHARS_PER_TOKEN * room:  # too long to fit: not worth tokenizing
                break
            room -= llm.count_tokens(user) + llm.count_tokens(reply) + TURN_MARKERS
            if room < 0:
                break
            kept += 1
        while kept and llm.count_tokens(self._chat_prompt(question, documents, conversation.latest(kept))) \
                + self.max_new_tokens > window:
            kept -= 1
        return conversation.latest(kept)

    def history_window(self, prompt_tokens: int) -> int:
        """The tokens a prompt with history and the answer may take: llama.cpp's window when the prompt without
        history (``prompt_tokens``) generates there, so that earlier turns never move generation to transformers
        (several times slower), else the model's context."""
        fast = self.llm.fast
        if fast is not None and prompt_tokens + self.max_new_tokens <= fast.context_length:
            return fast.context_length
        return self.llm.context_length

    @component.output_types(answer=str, documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document], conversation: Conversation | None = None) -> dict[str, Any]:
        """``answer``: the answer (for ``short``/``yes-no`` the final X; the whole text is ``meta.output``);
        ``documents``: the cited passages, in citation order."""
        prompt = self.prompt(query, documents, conversation)
        counter = CallCounter()
        began = time.perf_counter()
        lead, decision, prefix = self.decide(prompt, bool(documents), counter)
        max_new_tokens, decoding = self.continuation(bool(lead))
        generation = self.llm.generate(prompt + lead, max_new_tokens, counter, decoding=decoding, prefix=prefix)
        finish_reason = "stop" if lead else generation.finish_reason  # a decided answer ended with its decision
        result = self.result(lead + generation.text, documents, counter, time.perf_counter() - began, finish_reason)
        if decision:
            result["meta"]["decision"] = decision
        return result

    def decide(self, prompt: str, with_passages: bool,
               counter: CallCounter) -> tuple[str, dict[str, Any] | None, PromptPrefix | None]:
        """With a yes/no head fitted on prompts like this one (with passages or closed-book): ("So the answer is:
        X", what decided it, the prompt as the model has read it) for the model to continue from; else ("", None,
        None)."""
        if self.decision_head is None or self.decision_head.with_passages != with_passages:
            return "", None, None
        answer, p_yes, prefix = self.decision_head.decide(self.llm, prompt, counter)
        return f"{DECISION} {answer}", {"head": self.decision_head.name, "p_yes": round(p_yes, 4)}, prefix

    def continuation(self, decided: bool) -> tuple[int, Decoding]:
        """(max new tokens, decoding) of the generation after ``decide``'s lead (``decided``: a head's)."""
        if decided:
            return min(CITATION_TOKENS, self.max_new_tokens), self.stop.decoding(self.decided_decoding)
        return self.max_new_tokens, self.stop.decoding(self.decoding)

    def stream(self, query: str, documents: list[Document], cancel: threading.Event, counter: CallCounter,
               conversation: Conversation | None = None) -> Generator[str, None, FinishReason]:
        """The output's text pieces as they are generated (returns the finish reason); ``cancel`` stops the
        model. The pieces may run a token past the end of the answer: ``finish`` cuts the joined text."""
        prompt = self.prompt(query, documents, conversation)
        lead, _, prefix = self.decide(prompt, bool(documents), counter)
        if lead:
            yield lead
        max_new_tokens, decoding = self.continuation(bool(lead))
        reason = yield from self.llm.stream(prompt + lead, max_new_tokens, cancel, counter, decoding, prefix)
        return "stop" if lead and reason == "length" else reason

    def finish(self, output: str) -> tuple[str, str]:
        """(output cut at the first stop string and the end of the answer, the answer itself)."""
        output = self.decoding.cut(self.stop.cut(output))[0].strip()
        return output, output if self.form.name == "free" else self.form.answer_span(output)

    def settled(self, text: str, newest: str) -> str:
        """The start of the final output that no later piece can change, from the pieces so far (``text``, whose
        ``newest`` piece may be the one a stop rule needed to match, so it is held back)."""
        lead = len(text) - len(text.lstrip())
        end = min(len(text) - len(newest), self.stop.settled(text)) - lead
        return self.finish(text)[0][:max(end, 0)].rstrip()

    def result(self, output: str, documents: list[Document], counter: CallCounter, seconds: float,
               finish_reason: FinishReason) -> dict[str, Any]:
        output, answer = self.finish(output)
        cited = [documents[n - 1] for n in cited_numbers(output, len(documents))]
        meta = {"model": self.model, "latency_ms": round(1000 * seconds, 3), "output": output,
                "finish_reason": finish_reason, "unknown_citations": unknown_citations(output, len(documents)),
                **counter.as_dict()}
        return {"answer": answer, "documents": cited, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, max_new_tokens=self.max_new_tokens,
                               decision_head=self.decision_head.name if self.decision_head else None,
                               answer_format=self.answer_format, passage_words=self.passage_words,
                               repetition_penalty=self.repetition_penalty,
                               no_repeat_ngram_size=self.no_repeat_ngram_size,
                               template=self.template.model_dump(), stop=list(self.stop.strings) or None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnswerGenerator":
        return default_from_dict(cls, data)
