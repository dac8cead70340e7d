"""Read a BEIR dataset folder: corpus.jsonl[.gz], queries*.jsonl[.gz], qrels/<split>.tsv[.gz]."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from haystack import Document

from core.errors import InvalidInputError, NotFoundError
from core.jsonl import iter_json_lines, open_text
from evals.qa_dataset import is_qa_folder, read_questions


@dataclass
class BeirDataset:
    """Queries and graded qrels of one split, and the folder the corpus streams from."""

    root: Path
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def corpus(self) -> Iterator[Document]:
        return read_corpus(self.root)


def find_file(root: Path, stem: str) -> Path:
    """``root/stem`` plain or gzipped; NotFoundError naming both when neither exists."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise NotFoundError(f"Dataset file '{root / stem}' (or .gz) not found.")


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, record in iter_json_lines(path):
        if not isinstance(record, dict) or "_id" not in record:
            raise InvalidInputError(f"{path}:{number}: expected a JSON object with an '_id' field.")
        yield number, record


def corpus_file(root: Path) -> Path:
    """``corpus.jsonl[.gz]``, or the one ``*_corpus.jsonl[.gz]`` (StrategyQA ships ``facts_corpus``)."""
    try:
        return find_file(root, "corpus.jsonl")
    except NotFoundError:
        named = sorted(root.glob("*_corpus.jsonl*"))
        if len(named) == 1:
            return named[0]
        raise


def read_corpus(root: Path) -> Iterator[Document]:
    """Corpus records as Documents (content = text, meta.title = title)."""
    path = corpus_file(root)
    for number, record in _jsonl(path):
        text = record.get("text") or ""
        title = record.get("title") or ""
        if not isinstance(text, str) or not isinstance(title, str) or not (text.strip() or title.strip()):
            raise InvalidInputError(f"{path}:{number}: document '{record['_id']}' has no text.")
        meta = {"title": title} if title else {}
        if isinstance(record.get("metadata"), dict) and record["metadata"]:
            meta["metadata"] = record["metadata"]
        yield Document(id=str(record["_id"]), content=text if text.strip() else title, meta=meta)


def read_queries(path: Path) -> dict[str, str]:
    return {str(record["_id"]): str(record.get("text", "")) for _, record in _jsonl(path)}


def read_split_queries(root: Path, split: str) -> dict[str, str]:
    """Query texts by id: ``queries[.split].jsonl``, else, in a QA folder (2WikiMultihopQA, StrategyQA), the
    questions of its questions file (the ids its qrels use)."""
    try:
        return read_queries(_queries_file(root, split))
    except NotFoundError:
        if not is_qa_folder(root):
            raise
    return {q.id: q.question for q in read_questions(root)}


def read_qrels_tsv(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels: a header line, then query-id, corpus-id, score (tab separated)."""
    qrels: dict[str, dict[str, int]] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] == "query-id":
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                raise InvalidInputError(f"{path}:{number}: expected 3 tab-separated fields, got {len(parts)}.")
            try:
                qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
            except ValueError:
                raise InvalidInputError(f"{path}:{number}: relevance '{parts[2]}' is not a number.") from None
    return qrels


def _queries_file(root: Path, split: str) -> Path:
    for stem in (f"queries.{split}.jsonl", "queries.jsonl"):
        try:
            return find_file(root, stem)
        except NotFoundError:
            continue
    raise NotFoundError(f"No queries file in '{root}' (queries.jsonl or queries.{split}.jsonl).")


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    """Queries and qrels of ``split`` (only queries that have judgements are kept)."""
    if not root.is_dir():
        raise NotFoundError(f"Dataset folder '{root}' does not exist.")
    corpus_file(root)
    qrels = read_qrels_tsv(find_file(root / "qrels", f"{split}.tsv"))
    all_queries = read_split_queries(root, split)
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    if not queries:
        raise InvalidInputError(f"No query in '{root}' has qrels for split '{split}'.")
    return BeirDataset(root=root, split=split, queries=queries, qrels=qrels)
