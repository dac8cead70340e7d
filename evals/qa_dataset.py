"""Question-answering datasets: questions with gold answers beside a BEIR-style passage corpus.

2WikiMultihopQA (``questions.dev500.jsonl[.gz]``: question, answer) and StrategyQA (yes/no answers)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInputError, NotFoundError
from core.jsonl import iter_json_lines


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]


def is_qa_folder(root: Path) -> bool:
    """Whether ``root`` holds questions with answers (``questions*.jsonl[.gz]``) rather than BEIR queries."""
    return any(root.glob("questions*.jsonl*")) and not any(root.glob("queries*.jsonl*"))


def questions_file(root: Path) -> Path:
    """The dataset's question file: ``questions*.jsonl[.gz]``, the dev500 sample when there are several."""
    found = sorted(root.glob("questions*.jsonl*"))
    if not found:
        raise NotFoundError(f"No questions*.jsonl[.gz] file in '{root}'.")
    preferred = [p for p in found if "dev500" in p.name]
    return (preferred or found)[0]


def read_questions(root: Path, limit: int | None = None) -> list[QAItem]:
    """Questions in file order (a fixed sample: the first ``limit``); answers from ``answer`` (and aliases)."""
    path = questions_file(root)
    items: list[QAItem] = []
    for number, record in iter_json_lines(path):
        if not isinstance(record, dict) or "question" not in record or "answer" not in record:
            raise InvalidInputError(f"{path}:{number}: expected a JSON object with 'question' and 'answer'.")
        aliases = tuple(str(a) for a in record.get("answer_aliases", []) or [])
        items.append(QAItem(question_id(record, number), record["question"], (gold_answer(record),) + aliases))
        if limit is not None and len(items) >= limit:
            break
    return items


def question_id(record: dict, number: int) -> str:
    """A question's id: ``_id`` (2WikiMultihopQA), ``qid`` (StrategyQA), else its line number."""
    return str(record.get("_id", record.get("qid", number)))


def gold_answer(record: dict) -> str:
    """The record's answer as text; a boolean answer is ``yes`` / ``no``."""
    answer = record["answer"]
    return ("yes" if answer else "no") if isinstance(answer, bool) else str(answer)
