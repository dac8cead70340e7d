"""The dynamic-retrieval loop shared by DRAGIN and its baselines: write one sentence at a time; after each,
the policy may ask for passages, in which case the sentence is rewritten with them in the prompt."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.llm_backend import CallCounter, Generation, LLMBackend, get_llm
from core.settings import get_settings
from rag.answer_prompt import passage_block
from rag.dynamic.policies import POLICIES, Policy, Written
from rag.retrieval import make_retriever

ANSWER_FORMATS = {  # the system prompt per kind of answer expected
    "short": "Answer the question. Reason step by step in short sentences, then finish with "
             "\"So the answer is: <answer>.\"",
    "yes-no": "Answer the yes/no question. Reason step by step in short sentences, then finish with "
              "\"So the answer is: yes.\" or \"So the answer is: no.\"",
}
SENTENCE_END = [". ", "? ", "! ", "\n"]
FINAL = re.compile(r"answer is:?\s*(.+?)(?:\.\s*$|\.\s|\n|$)", re.IGNORECASE)


@dataclass
class DynamicResult:
    answer: str
    output: str
    queries: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)  # the passages in the final prompt
    lm_calls: int = 0
    seconds: float = 0.0
    counter: CallCounter = field(default_factory=CallCounter)
    parametric: dict[str, Any] | None = None  # DyPRAG: documents translated, translation time

    def as_dict(self) -> dict[str, Any]:
        extra = {"parametric": self.parametric} if self.parametric else {}
        return {"answer": self.answer, "output": self.output, "queries": self.queries,
                "retrieval_calls": len(self.queries), "lm_calls": self.lm_calls,
                "latency_ms": round(1000 * self.seconds, 3), **self.counter.as_dict(), **extra}


class DynamicAnswerer:
    """Answers with ``policy`` deciding when (and with which query) to retrieve top-``top_k`` passages."""

    def __init__(self, collection: str, policy: str = "dragin", retriever: str = "bm25", top_k: int = 3,
                 model: str | None = None, max_new_tokens: int = 96, sentence_tokens: int = 40,
                 max_retrievals: int = 5, answer_format: str = "short", **policy_options: Any) -> None:
        if answer_format not in ANSWER_FORMATS:
            raise InvalidInputError(f"Unknown answer format '{answer_format}': choose one of "
                                    f"{', '.join(ANSWER_FORMATS)}.")
        self.system = ANSWER_FORMATS[answer_format]
        if policy not in POLICIES:
            raise InvalidInputError(f"Unknown dynamic retrieval '{policy}': choose one of {', '.join(POLICIES)}.")
        try:
            self.policy = Policy(policy, **policy_options)
        except TypeError as error:
            raise InvalidInputError(f"Invalid options for dynamic retrieval '{policy}': {error}.") from error
        self.retriever_name = retriever
        self.use_collection(collection)
        self.top_k = top_k
        self.model = model or get_settings().llm_model
        self.max_new_tokens = max_new_tokens
        self.sentence_tokens = sentence_tokens
        self.max_retrievals = max_retrievals

    def use_collection(self, collection: str) -> None:
        self.collection = collection
        self.retriever = make_retriever(self.retriever_name, collection)

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def run(self, question: str, documents: list[Document] | None = None) -> DynamicResult:
        """Answer ``question``; ``documents`` (already retrieved) start in the prompt instead of the policy's
        initial retrieval."""
        if not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        began = time.perf_counter()
        result = DynamicResult(answer="", output="")
        documents = list(documents or [])
        if not documents and (query := self.policy.initial_query(question)) is not None:
            documents = self._retrieve(query, result)
        text, written_tokens, since_retrieval = "", 0, 0
        while written_tokens < self.max_new_tokens:
            sentence = self._sentence(question, documents, text, result)
            if not sentence.text.strip():
                break
            state = Written(question, text, sentence, since_retrieval + len(sentence.token_ids))
            query = self.policy.query(self.llm, state, result.counter) if len(result.queries) < self.max_retrievals else None
            if query:
                documents = self._retrieve(query, result)
                since_retrieval = 0
                sentence = self._sentence(question, documents, text, result)
            since_retrieval += len(sentence.token_ids)
            written_tokens += len(sentence.token_ids)
            text += sentence.text
            if FINAL.search(text) or not (text.rstrip().endswith((".", "?", "!")) or text.endswith("\n")):
                break  # the answer is given, or the model stopped mid-sentence (end of text or token cap)
        result.output = text.strip()
        result.documents = documents
        result.answer = final_answer(result.output)
        result.seconds = time.perf_counter() - began
        return result

    def _retrieve(self, query: str, result: DynamicResult) -> list[Document]:
        result.queries.append(query)
        return self.retriever.run(query, self.top_k)["documents"]

    def _sentence(self, question: str, documents: list[Document], text: str, result: DynamicResult) -> Generation:
        user = (f"Context:\n{passage_block(documents)}\n\n" if documents else "") + f"Question: {question.strip()}"
        prompt = self.llm.chat_prompt(user, system=self.system, assistant_prefix=text)
        result.lm_calls += 1
        return first_sentence(self.llm, self.llm.generate(prompt, self.sentence_tokens, result.counter,
                                                          stop_strings=SENTENCE_END))


def first_sentence(llm: LLMBackend, generation: Generation) -> Generation:
    """Drop the tokens after the first sentence end (a stop string matches one token late): the sentence
    ends at ".", "?" or "!" followed by a token that starts with whitespace, or at a newline."""
    pieces = [llm.tokenizer.decode([i]) for i in generation.token_ids]
    for keep in range(1, len(pieces)):
        ends = pieces[keep - 1].rstrip().endswith((".", "?", "!")) and pieces[keep][:1].isspace()
        if ends or "\n" in pieces[keep - 1]:
            text = llm.tokenizer.decode(generation.token_ids[:keep]).rstrip() + " "
            return Generation(text, generation.token_ids[:keep], generation.logprobs[:keep],
                              generation.entropies[:keep])
    return generation


def final_answer(output: str) -> str:
    """The text after "the answer is", else the last sentence."""
    match = FINAL.search(output)
    if match:
        return match.group(1).strip().strip('"').strip()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", output.strip()) if s]
    return sentences[-1].rstrip(".") if sentences else ""
