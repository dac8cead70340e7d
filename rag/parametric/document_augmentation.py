"""What a document's LoRA learns from (PRAG's data augmentation, as in Trae1ounG/DyPRAG ``src/augment.py`` and
``src/encode.py``): the LLM rewrites the passage and writes three question / answer / full-answer triples as
JSON (sampling, temperature 0.7, top-k 50); each triple becomes a chat example "answer the question from
these passages" → "The answer is …", with the loss on the whole sequence.

A small model may not write that JSON (SmolLM2-135M copies the prompt's France example): triples that copy
the example are dropped, and when fewer than three remain the pairs of a one-shot "Question: … Answer: …"
prompt (greedy), kept only when the answer's words occur in the passage, fill up."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.llm_backend import CallCounter, LLMBackend
from rag.answer_formats import normalize_answer

REWRITE_PROMPT = (
    "Rewrite the following passage. While keeping the entities, proper nouns, and key details such as names, "
    "locations, and terminology intact, create a new version of the text that expresses the same ideas in a "
    "different way. Make sure the revised passage is distinct from the original one, but preserves the core "
    "meaning and relevant information.\n{passage}")
QA_PROMPT = (
    "I will provide a passage of text, and you need to generate three different questions based on the content "
    "of this passage. Each question should be answerable using the information provided in the passage. "
    "Additionally, please provide an appropriate answer for each question derived from the passage.\n"
    "You need to generate the question and answer in the following format:\n[\n    {{\n"
    "        \"question\": \"What is the capital of France?\",\n        \"answer\": \"Paris\"\n"
    "        \"full_answer\": \"The capital of France is Paris.\"\n    }}, \n]\n\n"
    "This list should have at least three elements. You only need to output this list in the above format.\n"
    "Passage:\n{passage}")
USER_PROMPT = ("You should answer the question by referring to the knowledge provided below and integrating your "
               "own knowledge.\n{passages}\n\nQuestion: {question}")
ASSISTANT_PROMPT = "The answer is {answer}"
LINES_INSTRUCTION = "Write three questions that the passage answers, each followed by its short answer from the passage."
LINES_EXAMPLE = ("Passage: Marie Curie (7 November 1867 – 4 July 1934) was a Polish physicist and chemist who conducted "
                 "pioneering research on radioactivity.\n\nQuestion: When was Marie Curie born?\nAnswer: 7 November "
                 "1867\nQuestion: What was Marie Curie's nationality?\nAnswer: Polish\n"
                 "Question: What did Marie Curie research?\nAnswer: radioactivity")
TEMPLATE_QUESTION = "what is the capital of france?"  # the example inside QA_PROMPT
_FIELD = r'"{}"\s*:\s*"((?:[^"\\]|\\.)*)"'
_LINE_PAIR = re.compile(r"Question:\s*(.+?)\s*\n+\s*Answer:\s*(.+?)\s*(?=\n|$)", re.IGNORECASE)
MAX_ANSWER_WORDS = 12
LINES_TOKENS = 90
_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
QA_PER_PASSAGE = 3


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    full_answer: str = ""


@dataclass(frozen=True)
class Augmentation:
    """A passage's rewrite and its QA triples (at most three, as the reference keeps)."""

    passage: str
    rewrite: str
    qa: list[QAPair]
    attempts: int  # sampling rounds tried
    from_json: int = 0  # triples from the reference's JSON prompt (the rest from the one-shot fallback)


def augment(llm: LLMBackend, passage: str, seed: int, attempts: int = 2, max_new_tokens: int = 256,
            counter: CallCounter | None = None) -> Augmentation:
    """Rewrite + QA triples sampled like the reference (rewrite and JSON QA in one batch); the JSON prompt is
    sampled again with new seeds until it gives three triples or ``attempts`` rounds are spent (the reference
    tries up to 100 times). Short of three, the greedy one-shot prompt's grounded pairs fill up."""
    rewrite_tokens = min(max_new_tokens, int(1.3 * llm.count_tokens(passage)) + 32)
    qa_prompt = llm.chat_prompt(QA_PROMPT.format(passage=passage))
    rewrite, json_text = llm.sample_batch([llm.chat_prompt(REWRITE_PROMPT.format(passage=passage)), qa_prompt],
                                          max_new_tokens, seed=seed, counter=counter)
    best = parse_qa(json_text)
    tried = 1
    while len(best) < QA_PER_PASSAGE and tried < attempts:
        found = parse_qa(llm.sample_batch([qa_prompt], max_new_tokens, seed=seed + 1000 * tried, counter=counter)[0])
        best = found if len(found) > len(best) else best
        tried += 1
    qa = best[:QA_PER_PASSAGE]
    if len(qa) < QA_PER_PASSAGE:
        prompt = llm.chat_prompt(f"{LINES_INSTRUCTION}\n\nExample:\n{LINES_EXAMPLE}\n\nPassage: {passage}",
                                 assistant_prefix="Question:")
        qa = _merge(qa, grounded_pairs("Question:" + llm.generate(prompt, LINES_TOKENS, counter).text, passage))
    return Augmentation(passage, _cut_tokens(llm, rewrite, rewrite_tokens), qa, tried, min(len(best), QA_PER_PASSAGE))


def _merge(from_json: list[QAPair], from_lines: list[QAPair]) -> list[QAPair]:
    """The JSON triples first, topped up with fallback pairs on other questions, at most three."""
    asked = {p.question.lower() for p in from_json}
    return (from_json + [p for p in from_lines if p.question.lower() not in asked])[:QA_PER_PASSAGE]


def parse_qa(text: str) -> list[QAPair]:
    """The QA triples of a generated JSON list, read object by object so that a truncated list or a missing
    comma (the reference's own template lacks one after "answer") still yields the complete objects; a copy of
    the prompt's own example is dropped."""
    pairs, seen = [], {TEMPLATE_QUESTION}
    for block in _OBJECT.findall(text):
        fields = {}
        for name in ("question", "answer", "full_answer"):
            match = re.search(_FIELD.format(name), block)
            if match:
                fields[name] = _unescape(match.group(1)).strip()
        if fields.get("question") and fields.get("answer") and fields["question"].lower() not in seen:
            seen.add(fields["question"].lower())
            pairs.append(QAPair(fields["question"], fields["answer"], fields.get("full_answer", "")))
    return pairs


def grounded_pairs(text: str, passage: str) -> list[QAPair]:
    """The "Question: … Answer: …" pairs of ``text`` whose answer words all occur in ``passage``."""
    passage_words = set(normalize_answer(passage).split())
    pairs, seen = [], set()
    for question, answer in _LINE_PAIR.findall(text):
        words = normalize_answer(answer).split()
        if (question.endswith("?") and words and len(words) <= MAX_ANSWER_WORDS
                and set(words) <= passage_words and question.lower() not in seen):
            seen.add(question.lower())
            pairs.append(QAPair(question.strip(), answer.strip().rstrip(".")))
    return pairs


def training_examples(llm: LLMBackend, augmentation: Augmentation) -> list[list[int]]:
    """Token ids of the document's examples (the reference's ``get_train_data``): the first ⌈n/2⌉ QA triples
    each with the passage and, separately, with the rewrite in the prompt; the others without a passage.
    Every token is learned (labels = ids). The first example — first triple, passage in the prompt — is the
    one the translator trains on."""
    with_passage = (len(augmentation.qa) + 1) // 2
    examples = []
    for number, pair in enumerate(augmentation.qa):
        contexts = [augmentation.passage, augmentation.rewrite] if number < with_passage else [None]
        examples += [_example(llm, pair, context) for context in contexts]
    return examples


def _example(llm: LLMBackend, pair: QAPair, passage: str | None) -> list[int]:
    question = pair.question.strip()
    question = question.rstrip(" ?") + "?"
    answer = pair.answer.strip()
    answer = answer if answer.endswith(".") else answer + "."
    passages = f"Passage 1: {passage}\n" if passage else ""
    prompt = llm.chat_prompt(USER_PROMPT.format(passages=passages, question=question))
    return llm.encode(prompt) + llm.encode(ASSISTANT_PROMPT.format(answer=answer))


def _unescape(value: str) -> str:
    try:
        return json.loads(f'"{value}"')
    except json.JSONDecodeError:
        return value


def _cut_tokens(llm: LLMBackend, text: str, max_tokens: int) -> str:
    ids = llm.encode(text)
    return text if len(ids) <= max_tokens else llm.tokenizer.decode(ids[:max_tokens])
