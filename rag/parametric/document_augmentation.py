"""What a document's LoRA learns from (PRAG's data augmentation): question–answer pairs the LLM writes
about the document, kept only when the answer is grounded in it, plus the document text itself."""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.llm_backend import CallCounter, LLMBackend
from evals.qa_metrics import normalize_answer

QA_INSTRUCTION = "Write three questions that the passage answers, each followed by its short answer from the passage."
QA_EXAMPLE = ("Passage: Marie Curie (7 November 1867 – 4 July 1934) was a Polish physicist and chemist who conducted "
              "pioneering research on radioactivity.\n\nQuestion: When was Marie Curie born?\nAnswer: 7 November 1867\n"
              "Question: What was Marie Curie's nationality?\nAnswer: Polish\n"
              "Question: What did Marie Curie research?\nAnswer: radioactivity")
_PAIR = re.compile(r"Question:\s*(.+?)\s*\n+\s*Answer:\s*(.+?)\s*(?=\n|$)", re.IGNORECASE)
MAX_ANSWER_WORDS = 12
IGNORED = -100


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str


def generate_qa(llm: LLMBackend, passage: str, max_new_tokens: int = 90,
                counter: CallCounter | None = None) -> list[QAPair]:
    """Questions with answers about ``passage``, written by the LLM; ungrounded or malformed pairs dropped."""
    prompt = llm.chat_prompt(f"{QA_INSTRUCTION}\n\nExample:\n{QA_EXAMPLE}\n\nPassage: {passage}",
                             assistant_prefix="Question:")
    text = "Question:" + llm.generate(prompt, max_new_tokens, counter).text
    return grounded_pairs(text, passage)


def grounded_pairs(text: str, passage: str) -> list[QAPair]:
    """The "Question: … Answer: …" pairs of ``text`` whose answer words all occur in ``passage``."""
    passage_words = set(normalize_answer(passage).split())
    pairs, seen = [], set()
    for question, answer in _PAIR.findall(text):
        words = normalize_answer(answer).split()
        if (question.endswith("?") and words and len(words) <= MAX_ANSWER_WORDS
                and set(words) <= passage_words and question.lower() not in seen):
            seen.add(question.lower())
            pairs.append(QAPair(question.strip(), answer.strip().rstrip(".")))
    return pairs


def training_examples(llm: LLMBackend, passage: str, pairs: list[QAPair],
                      max_tokens: int = 384) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) for the document: the passage as plain text (every token learned), and each pair
    as a chat turn "Question: …" → answer (only the answer's tokens learned)."""
    passage_ids = llm.encode(passage)[:max_tokens]
    examples = [(passage_ids, list(passage_ids))]
    for pair in pairs:
        prompt_ids = llm.encode(llm.chat_prompt(f"Question: {pair.question}"))
        answer_ids = llm.encode(pair.answer + ".") + [llm.tokenizer.eos_token_id]
        examples.append((prompt_ids + answer_ids, [IGNORED] * len(prompt_ids) + answer_ids))
    return examples
