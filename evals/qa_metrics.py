"""Answer metrics as in the SQuAD / 2WikiMultihopQA evaluation scripts: exact match and token F1 after
``normalize_answer`` (lower case, no punctuation, no articles, single spaces), best over the gold answers."""
from __future__ import annotations

from collections import Counter

from rag.answer_formats import normalize_answer


def exact_match(prediction: str, answers: tuple[str, ...] | list[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...] | list[str]) -> float:
    return max(_f1(normalize_answer(prediction).split(), normalize_answer(a).split()) for a in answers)


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
