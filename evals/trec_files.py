"""TREC run and qrels files (plain or gzipped): read and write."""
from __future__ import annotations

from pathlib import Path

from core.errors import InvalidInputError
from core.jsonl import open_text

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def _lines(path: Path) -> list[str]:
    with open_text(path) as handle:
        return handle.readlines()


def read_run(path: Path) -> Run:
    """``qid Q0 docid rank score tag`` lines → {qid: {docid: score}}."""
    run: Run = {}
    for number, line in enumerate(_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise InvalidInputError(f"{path}:{number}: a TREC run line has 6 fields, found {len(parts)}.")
        try:
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
        except ValueError:
            raise InvalidInputError(f"{path}:{number}: score '{parts[4]}' is not a number.") from None
    return run


def read_qrels(path: Path) -> Qrels:
    """``qid 0 docid grade`` lines → {qid: {docid: grade}}."""
    qrels: Qrels = {}
    for number, line in enumerate(_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InvalidInputError(f"{path}:{number}: a TREC qrels line has 4 fields, found {len(parts)}.")
        try:
            qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
        except ValueError:
            raise InvalidInputError(f"{path}:{number}: grade '{parts[3]}' is not an integer.") from None
    return qrels


def write_run(run: Run, path: Path, tag: str) -> None:
    """Write a run sorted by descending score per query (ties by doc id, as trec_eval orders them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for qid in sorted(run):
            ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")
