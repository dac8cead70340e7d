"""The siftrag command: evaluation end to end, and one-line errors with non-zero exits on bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_DATA, SCIFACT


def siftrag(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIFTRAG_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_eval_writes_report_statistics_runs_and_plot(built_slice, scifact_slice: Path, data_dir: Path,
                                                     tmp_path: Path) -> None:
    result = siftrag("eval", "--dataset", str(scifact_slice), "--pipeline", "bm25", "--pipeline", "hybrid",
                     "--pipeline", "dense", "--baseline", "dense", "--out", str(tmp_path / "r"), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "baseline dense" in result.stdout and "p (Holm)" in result.stdout
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [s["name"] for s in report["systems"]] == ["bm25", "hybrid", "dense"] and report["baseline"] == "dense"
    bm25 = report["systems"][0]
    assert bm25["metrics"]["nDCG@10"] > 0.6
    ndcg = bm25["statistics"]["nDCG@10"]
    assert ndcg["ci_low"] <= ndcg["mean"] <= ndcg["ci_high"] and ndcg["n"] == report["queries"] == 40
    assert ndcg["wins"] + ndcg["ties"] + ndcg["losses"] == 40 and 0 <= ndcg["p_holm"] <= 1
    assert ndcg["p_holm"] >= ndcg["p_value"]
    assert report["systems"][2]["statistics"]["nDCG@10"]["delta"] is None  # the baseline itself
    assert report["identical_ids"].startswith("ignored") and report["code_revision"]
    assert "sha256:" in report["provenance"]["dense"]["indexes"]["dense"]["model"]
    assert (tmp_path / "r" / "comparison.png").stat().st_size > 1000
    run_lines = (tmp_path / "r" / "run.hybrid.trec").read_text().splitlines()
    assert len(run_lines) == 100 * report["queries"]
    per_query = (tmp_path / "r" / "per_query.tsv").read_text().splitlines()
    assert per_query[0].split("\t")[:3] == ["system", "qid", "nDCG@10"] and len(per_query) == 1 + 3 * 40
    listed = siftrag("results", "--dataset", scifact_slice.name, data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in ("bm25", "hybrid", "dense")) and "best known nDCG@10" in listed.stdout


def test_eval_over_two_worker_processes_gives_the_same_numbers(built_slice, scifact_slice: Path, data_dir: Path,
                                                               tmp_path: Path) -> None:
    reports = {}
    for workers in ("1", "2"):
        result = siftrag("eval", "--dataset", str(scifact_slice), "--pipeline", "bm25", "--pipeline", "dense",
                         "--max-queries", "20", "--chunk-queries", "5", "--workers", workers,
                         "--out", str(tmp_path / workers), data_dir=data_dir)
        assert result.returncode == 0, result.stderr
        reports[workers] = json.loads((tmp_path / workers / "report.json").read_text())
    assert (tmp_path / "1" / "per_query.tsv").read_text() == (tmp_path / "2" / "per_query.tsv").read_text()
    assert reports["2"]["execution"]["worker_processes"] == 2
    # Which pool process takes which chunk is the scheduler's choice (under load one process can take every chunk
    # of a fast system before the other has started), so each system reports the processes that did run it.
    assert all(1 <= s["extra"]["worker_processes"] <= 2 for s in reports["2"]["systems"])


def test_score_run_self_check(data_dir: Path) -> None:
    folder = SAMPLE_DATA / "trec-dl-2019"
    result = siftrag("score-run", "--run", str(folder / "runs" / "bm25.top100.trec.gz"),
                     "--qrels", str(folder / "qrels" / "qrels.dl19-passage.txt.gz"), "--rel-level", "2",
                     data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nDCG@10"] == 0.5058
    assert "ignored" not in result.stderr  # no MS MARCO passage id equals its query's id in this run


def test_score_run_drops_identical_ids_unless_kept(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "run.trec").write_text("q1 Q0 q1 1 9.0 t\nq1 Q0 d1 2 5.0 t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    dropped = siftrag("score-run", "--run", str(tmp_path / "run.trec"), "--qrels", str(tmp_path / "qrels.txt"),
                      data_dir=data_dir)
    kept = siftrag("score-run", "--run", str(tmp_path / "run.trec"), "--qrels", str(tmp_path / "qrels.txt"),
                   "--keep-identical-ids", data_dir=data_dir)
    assert json.loads(dropped.stdout)["nDCG@10"] == 1.0 and "ignored 1 retrieved" in dropped.stderr
    assert json.loads(kept.stdout)["nDCG@10"] == 0.6309


def _bad_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text('{"_id": "1", "text": "fine"}\n{oops\n')
    (root / "queries.jsonl").write_text('{"_id": "q", "text": "fine"}\n')
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\t1\t1\n")
    return root


@pytest.mark.parametrize("case, args, code, message", [
    ("missing dataset", ["eval", "--dataset", "/no/such/folder"], 3, "does not exist"),
    ("unknown pipeline", ["eval", "--dataset", "DATA", "--pipeline", "bm26"], 2, "Unknown pipeline"),
    ("unknown collection", ["search", "nope", "query"], 3, "Collection 'nope' does not exist"),
    ("empty query", ["search", "slice", "  "], 2, "non-empty"),
    ("unknown kind", ["collections", "build", "slice", "--kind", "sparse"], 3, "Unknown index kind"),
    ("non-JSON corpus line", ["eval", "--dataset", "BAD"], 2, "corpus.jsonl:2"),
    ("unknown rerank option", ["eval", "--dataset", "DATA", "--pipeline", "bm25>tilde", "--rerank-option",
                               "window=3"], 2, "unexpected keyword argument 'window'"),
    ("malformed rerank option", ["eval", "--dataset", "DATA", "--pipeline", "bm25>icr", "--rerank-option",
                                 "window"], 2, "not KEY=VALUE"),
    ("baseline not evaluated", ["eval", "--dataset", "DATA", "--pipeline", "bm25", "--baseline", "dense"], 2,
     "is not one of the evaluated pipelines"),
    ("no workers", ["eval", "--dataset", "DATA", "--workers", "0"], 2, "--workers must be between 1"),
    ("baseline variant", ["eval-answers", "--dataset", "DATA", "--variant", "none", "--baseline", "rag@3"], 2,
     "is not one of the evaluated systems"),
    ("no results yet", ["results", "--dataset", "never-evaluated"], 3, "No results recorded yet"),
])
def test_bad_input_is_one_line(built_slice, scifact_slice: Path, data_dir: Path, tmp_path: Path,
                               case: str, args: list[str], code: int, message: str) -> None:
    args = [str(scifact_slice) if a == "DATA" else str(_bad_corpus(tmp_path)) if a == "BAD" else a for a in args]
    result = siftrag(*args, data_dir=data_dir)
    assert result.returncode == code, (case, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_corpus_leaves_no_half_written_collection(data_dir: Path, tmp_path: Path) -> None:
    siftrag("eval", "--dataset", str(_bad_corpus(tmp_path)), data_dir=data_dir)
    from indexes.retriever import collection_manager

    collection = collection_manager().get("beir-bad")
    assert collection.store.count() == 0
    assert collection.versions("bm25").current() is None


def test_answer_prints_the_answer_and_its_costs(built_slice, data_dir: Path) -> None:
    result = siftrag("answer", "slice", "Does vitamin D deficiency affect bone health?", "--top-k", "2",
                     "--max-new-tokens", "8", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "answer:" in result.stdout and "prompt" in result.stderr and "generate" in result.stderr
    assert "finish: length" in result.stderr  # 8 tokens do not reach "So the answer is: …"
    empty = siftrag("answer", "slice", " ", data_dir=data_dir)
    assert empty.returncode == 2 and empty.stderr.startswith("error: The question must be a non-empty string.")
    option = siftrag("answer", "slice", "q", "--compressor", "crag", "--compressor-option", "clusters", data_dir=data_dir)
    assert option.returncode == 2 and "--compressor-option 'clusters' is not KEY=VALUE" in option.stderr
    unknown = siftrag("answer", "slice", "q", "--answer-format", "essay", data_dir=data_dir)
    assert unknown.returncode == 2 and "Unknown answer format 'essay'" in unknown.stderr


def test_eval_answers_scores_variants_on_2wikimultihopqa(data_dir: Path, tmp_path: Path) -> None:
    result = siftrag("eval-answers", "--dataset", str(SAMPLE_DATA / "2wikimultihopqa"), "--variant", "none",
                     "--variant", "rag@2", "--variant", "tcra-semantic@2", "--max-questions", "3",
                     "--max-new-tokens", "8",
                     "--out", str(tmp_path / "a"), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    variants = report["variants"]
    assert list(variants) == ["none", "rag@2", "tcra-semantic@2"] and report["questions"] == 3
    assert all(0 <= v["EM"] <= v["F1"] + 1e-9 <= 1 for v in variants.values())
    assert variants["none"]["context_tokens"] == 0 < variants["rag@2"]["context_tokens"]
    assert variants["tcra-semantic@2"]["vs_rag"]["context_token_reduction"] > 0
    rows = (tmp_path / "a" / "predictions-rag-at-2.jsonl").read_text().splitlines()
    assert len(rows) == 3 and {"prediction", "em", "f1", "tokens", "finish_reason", "cited"} <= set(json.loads(rows[0]))
    assert report["answer_format"] == "short" and variants["none"]["citation_recall"] == 0.0  # cites nothing
    assert 0 <= variants["rag@2"]["citation_recall"] <= 1 and 0 <= variants["rag@2"]["stopped"] <= 1
    assert report["baseline"] == "none" and variants["none"]["statistics"]["F1"]["delta"] is None
    em, f1 = variants["rag@2"]["statistics"]["EM"], variants["rag@2"]["statistics"]["F1"]
    assert em["test"] == "mcnemar" and f1["test"] == "t-test" and f1["n"] == 3
    assert f1["delta"] == pytest.approx(variants["rag@2"]["F1"] - variants["none"]["F1"], abs=1e-4)
    assert len((tmp_path / "a" / "per_question.tsv").read_text().splitlines()) == 1 + 3 * 3
    bad = siftrag("eval-answers", "--dataset", str(SAMPLE_DATA / "2wikimultihopqa"), "--variant", "rag",
                  "--out", str(tmp_path / "b"), data_dir=data_dir)
    assert bad.returncode == 2 and "Variant 'rag'" in bad.stderr


def test_eval_dynamic_reports_calls_per_question_on_strategyqa(data_dir: Path, tmp_path: Path) -> None:
    result = siftrag("eval-dynamic", "--dataset", str(SAMPLE_DATA / "strategyqa"), "--policy", "none",
                     "--policy", "single", "--skip-questions", "1", "--max-questions", "2", "--max-new-tokens", "16",
                     "--out", str(tmp_path / "d"), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["metric"] == "accuracy" and report["questions"] == 2 and report["skipped"] == 1
    assert report["answer_format"] == "yes-no"
    assert report["policies"]["none"]["retrieval_calls"] == 0 and report["policies"]["single"]["retrieval_calls"] == 1
    accuracy = report["policies"]["single"]["statistics"]["EM"]
    assert accuracy["test"] == "mcnemar" and accuracy["wins"] + accuracy["ties"] + accuracy["losses"] == 2
    bad = siftrag("eval-dynamic", "--dataset", str(SAMPLE_DATA / "strategyqa"), "--policy", "dragin",
                  "--option", "theta=2", "--out", str(tmp_path / "e"), data_dir=data_dir)
    assert bad.returncode == 2 and "Invalid options for dynamic retrieval" in bad.stderr


def test_train_dyprag_rejects_bad_input_before_submitting(data_dir: Path, tmp_path: Path) -> None:
    zero = siftrag("train", "dyprag", "--dataset", str(SAMPLE_DATA / "strategyqa"), "--documents", "0",
                   data_dir=data_dir)
    assert zero.returncode == 2 and "at least 1" in zero.stderr
    missing = siftrag("train", "dyprag", "--dataset", str(tmp_path / "nowhere"), data_dir=data_dir)
    assert missing.returncode == 3 and "No dataset folder" in missing.stderr
    untrained = siftrag("eval-dynamic", "--dataset", str(SAMPLE_DATA / "strategyqa"), "--policy", "dyprag",
                        "--translator", "never-trained", "--out", str(tmp_path / "e"), data_dir=data_dir)
    assert untrained.returncode == 3 and "siftrag train dyprag --name never-trained" in untrained.stderr


def test_a_bad_setting_or_an_unreachable_backend_is_one_line(data_dir: Path, scifact_slice: Path) -> None:
    cases = [({"SIFTRAG_INDEX_BACKEND": "bogus"}, 2, "Invalid setting: SIFTRAG_INDEX_BACKEND: Input should be"),
             ({"SIFTRAG_INDEX_BACKEND": "milvus", "SIFTRAG_MILVUS_URI": "http://127.0.0.1:1"}, 4,
              "Milvus at http://127.0.0.1:1 is unreachable")]
    for env, code, message in cases:
        result = subprocess.run([sys.executable, str(REPO / "cli.py"), "eval", "--dataset", str(scifact_slice),
                                 "--max-queries", "2"], cwd=REPO, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "SIFTRAG_DATA_DIR": str(data_dir), **env})
        assert result.returncode == code and message in result.stderr, (env, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_wait_without_a_worker_is_refused_before_submitting(data_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIFTRAG_REDIS_URL", raising=False)
    result = siftrag("train", "reranker", "--objective", "pointwise", "--name", "never", "--dataset",
                     str(SCIFACT), "--no-wait", data_dir=data_dir)
    assert result.returncode == 2 and result.stderr.startswith("error: --no-wait needs a Celery worker"), result.stderr
    assert "train_reranker" not in siftrag("jobs", "list", data_dir=data_dir).stdout
