"""The one ``siftrag`` command: search and answers, evaluation, collections and jobs, training, the server and
workers, the quick-start. Long work (builds, training, evaluations) is submitted as jobs."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

import core  # noqa: F401  (sets offline defaults before Haystack is imported)
from core.errors import InvalidInputError, NotFoundError, SiftragError
from indexes.index_kind import KIND_NAMES
from rag.answer_formats import ANSWER_FORMATS
from rag.compressors.registry import COMPRESSORS
from rag.dynamic.methods import DYNAMIC_METHODS
from rag.retrieval import RETRIEVERS
from rerankers.registry import METHODS, OBJECTIVES

app = typer.Typer(help="siftrag: retrieval, reranking and RAG service.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
collections_app = typer.Typer(help="Create, fill, index and inspect collections.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
out = Console(width=None if sys.stdout.isatty() else 200)  # report tables stay readable in files and pipes
err = Console(stderr=True)


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Option(help="BEIR folder (corpus.jsonl[.gz], queries, qrels/)")],
    pipeline: Annotated[list[str], typer.Option(
        help=f"{' | '.join(RETRIEVERS)}, optionally >{'|'.join(METHODS)} (e.g. bm25>icr); repeat to "
             "compare")] = ["bm25"],
    baseline: Annotated[Optional[str], typer.Option(
        help="pipeline the others are tested against (paired t-test, Holm) (default: the first)")] = None,
    split: str = "test",
    top_k: int = 100,
    max_queries: Annotated[Optional[int], typer.Option(help="evaluate only the first N queries")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="report folder")] = None,
    candidates: Annotated[int, typer.Option(help="first-stage depth that rerankers reorder")] = 100,
    rerank_model: Annotated[Optional[str], typer.Option(help="LLM for rerankers (default from settings)")] = None,
    passage_words: Annotated[Optional[int], typer.Option(help="words kept per passage in LLM prompts")] = None,
    rerank_option: Annotated[Optional[list[str]], typer.Option(
        help="KEY=VALUE passed to the reranker (JSON values), e.g. window=20 or first_stage_weight=0.3")] = None,
    keep_identical_ids: Annotated[bool, typer.Option(
        help="keep a retrieved document whose id is the query id (BEIR and Pyserini ignore it)")] = False,
    workers: Annotated[int, typer.Option(
        help="local worker processes (without SIFTRAG_REDIS_URL; with it, the Celery workers run the chunks)")] = 1,
    chunk_queries: Annotated[int, typer.Option(help="queries per chunk of work")] = 25,
) -> None:
    """Evaluate pipelines on a BEIR dataset: nDCG@10, R@10, R@100, MRR@10, MAP with 95% CIs, paired tests
    against the baseline, latency and LLM cost."""
    from core.settings import get_settings
    from evals.engine import EvaluationSpec
    from evals.report import render_table

    options = {k: v for k, v in {"model": rerank_model, "passage_words": passage_words}.items() if v is not None}
    options |= _key_values(rerank_option or [])
    try:
        spec = EvaluationSpec(dataset=str(dataset.resolve()), pipelines=pipeline, split=split, top_k=top_k,
                              candidates=candidates, rerank_options=options, max_queries=max_queries,
                              chunk_queries=chunk_queries, baseline=baseline, keep_identical_ids=keep_identical_ids)
    except ValueError as error:  # pydantic: a value out of range
        raise InvalidInputError(str(error).replace("\n", " ")) from None
    if get_settings().redis_url:
        from workers.runner import job_runner

        spec.check()
        params = spec.model_dump() | ({"out_dir": str(out_dir.resolve())} if out_dir else {})
        job = job_runner().submit("evaluate", params)
        err.print(f"job {job.id}: evaluation on the Celery workers")
        result = _wait_for(job.id)
        out.print(render_table(json.loads(Path(result["report"]).read_text())))
        out.print(f"report: {result['report']}")
        return
    from evals.runner import run_evaluation

    report = run_evaluation(spec, workers, out_dir, console=err)
    out.print(render_table(report))
    out.print(f"report: {report['report']}")


@app.command("score-run")
def score_run(
    run: Annotated[Path, typer.Option(help="TREC run file (plain or .gz)")],
    qrels: Annotated[Path, typer.Option(help="TREC qrels (qid 0 docid grade) or BEIR qrels .tsv[.gz]")],
    rel_level: Annotated[int, typer.Option(help="minimum grade counted relevant by binary measures (-l)")] = 1,
    keep_identical_ids: Annotated[bool, typer.Option(
        help="keep a retrieved document whose id is the query id (by default it is dropped, as BEIR does)")] = False,
) -> None:
    """Score an existing TREC run with ir-measures (trec_eval conventions)."""
    from evals.beir_loader import read_qrels_tsv
    from evals.metrics import drop_identical_ids, evaluate
    from evals.trec_files import read_qrels, read_run

    judgements = read_qrels_tsv(qrels) if ".tsv" in qrels.name else read_qrels(qrels)
    ranked = read_run(run)
    if not keep_identical_ids:
        ranked, dropped = drop_identical_ids(ranked)
        if dropped:
            err.print(f"ignored {dropped} retrieved documents whose id is their query's id (--keep-identical-ids "
                      "keeps them)")
    out.print_json(json.dumps({k: round(v, 4) for k, v in evaluate(ranked, judgements, rel_level).items()}))


@app.command("results")
def results_command(
    dataset: Annotated[Optional[str], typer.Option(help="only this dataset (folder name or path)")] = None,
) -> None:
    """The best-known result of every system per dataset (from <data_dir>/results.sqlite), and whether its
    latest run regressed significantly against the run before it."""
    from evals.results_store import ResultsStore
    from evals.results_table import render_results

    rows = ResultsStore().rows(dataset)
    if not rows:
        raise NotFoundError("No results recorded yet" + (f" for dataset '{dataset}'" if dataset else "")
                            + ": run `siftrag eval` first.")
    for table in render_results(rows):
        out.print(table)


@app.command("search")
def search_command(
    collection: str,
    query: str,
    retriever: Annotated[str, typer.Option(help=" | ".join(RETRIEVERS))] = "bm25",
    top_k: int = 5,
) -> None:
    """Search a collection and print the top documents."""
    from rag.retrieval import make_retriever

    for rank, document in enumerate(make_retriever(retriever, collection).run(query, top_k)["documents"], start=1):
        title = document.meta.get("title", "")
        out.print(f"{rank:>2}. [{document.id}] {document.score:.4f}  {title[:80]}")


@app.command("answer")
def answer_command(
    collection: str,
    question: str,
    retriever: Annotated[str, typer.Option(help=" | ".join(RETRIEVERS))] = "bm25",
    top_k: Annotated[int, typer.Option(help="passages in the context (0: answer without retrieval)")] = 5,
    rerank: Annotated[Optional[str], typer.Option(
        help=f"{' | '.join(METHODS)}: reranks the first --candidates")] = None,
    candidates: int = 20,
    compressor: Annotated[Optional[str], typer.Option(help=" | ".join(COMPRESSORS))] = None,
    compressor_option: Annotated[Optional[list[str]], typer.Option(
        help="KEY=VALUE passed to the compressor (JSON values), e.g. ratio=0.5 or max_clusters=3")] = None,
    model: Annotated[Optional[str], typer.Option(help="LLM (default from settings)")] = None,
    max_new_tokens: int = 128,
    answer_format: Annotated[str, typer.Option(help=" | ".join(ANSWER_FORMATS))] = "short",
    passage_words: Annotated[Optional[int], typer.Option(help="cut each passage to its first N words")] = None,
    min_passages: Annotated[int, typer.Option(help="fail (exit 2) when fewer passages are found")] = 0,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repeated tokens")] = 1.0,
    stream: Annotated[bool, typer.Option(help="print the answer as it is generated")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Answer a question from a collection's passages, citing them as [n]."""
    import threading

    from rag.answer_pipeline import AnswerConfig, AnswerPipeline

    config = AnswerConfig(retriever=retriever, top_k=top_k, rerank=rerank, candidates=candidates,
                          compressor=compressor, model=model, max_new_tokens=max_new_tokens,
                          answer_format=answer_format, passage_words=passage_words, min_passages=min_passages,
                          repetition_penalty=repetition_penalty,
                          compressor_options=tuple(sorted(_key_values(compressor_option or [],
                                                                      "--compressor-option").items())))
    pipeline = AnswerPipeline(collection, config)
    if as_json or not stream:
        result = pipeline.run(question)
        if as_json:
            out.print_json(json.dumps(result))
            return
    else:
        result = {}
        for event in pipeline.stream(question, threading.Event()):
            if event["event"] == "token":
                out.print(event["data"]["text"], end="", highlight=False)
            elif event["event"] == "done":
                result = event["data"]
        out.print()
    if stream:
        out.print(f"[bold]answer:[/bold] {result['answer']}", highlight=False)
    else:
        out.print(result["output"], highlight=False)
        out.print(f"[bold]answer:[/bold] {result['answer']}", highlight=False)
    for citation in result["citations"]:
        out.print(f"[{citation['n']}] {citation['title'] or citation['id']}", highlight=False)
    tokens, timings = result["tokens"], result["timings_ms"]
    err.print(f"prompt {tokens['prompt']} tokens (context {tokens['context']} of {tokens['retrieved_context']} "
              f"retrieved), {tokens['generated']} generated (finish: {result['finish_reason']}); "
              + ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in timings.items()))


@app.command("eval-answers")
def eval_answers(
    dataset: Annotated[Path, typer.Option(help="QA folder: corpus.jsonl[.gz] and questions*.jsonl[.gz]")],
    variant: Annotated[list[str], typer.Option(
        help=" | ".join(["none", "rag@K", *(f"{name}@K" for name in COMPRESSORS)]) + ", each optionally "
             ":model=NAME (e.g. a reader adapter); repeat to compare")] = ["none", "rag@5"],
    max_questions: Annotated[Optional[int], typer.Option(help="the first N questions (a fixed sample)")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="report folder")] = Path("reports/answers"),
    retriever: Annotated[str, typer.Option(help=" | ".join(RETRIEVERS))] = "bm25",
    model: Annotated[Optional[str], typer.Option(help="LLM (default from settings)")] = None,
    max_new_tokens: int = 96,
    baseline: Annotated[Optional[str], typer.Option(
        help="variant the others are tested against (EM: McNemar, F1: paired t-test; Holm) (default: the first)")] = None,
    answer_format: Annotated[Optional[str], typer.Option(
        help=f"{' | '.join(ANSWER_FORMATS)} (default: yes-no for yes/no datasets, else short)")] = None,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repeated tokens")] = 1.0,
    passage_words: Annotated[Optional[int], typer.Option(help="words per passage in the answer prompt (a reader "
                                                              "adapter's training value)", min=1)] = None,
    skip_questions: Annotated[int, typer.Option(help="start after the first N questions", min=0)] = 0,
) -> None:
    """Evaluate answers (EM, token F1 with 95% CIs and paired tests; citation precision and recall against
    the gold passages when the dataset has qrels), prompt tokens and latency of answer variants on a QA dataset."""
    from evals.answer_runner import run_answer_evaluation

    run_answer_evaluation(dataset, variant, max_questions, out_dir, retriever, model, max_new_tokens, baseline,
                          answer_format, repetition_penalty, passage_words, skip_questions)
    out.print(f"report: {out_dir / 'report.json'}")


@app.command("eval-dynamic")
def eval_dynamic(
    dataset: Annotated[Path, typer.Option(help="QA folder: corpus and questions*.jsonl[.gz]")],
    policy: Annotated[list[str], typer.Option(
        help=f"{' | '.join(DYNAMIC_METHODS)}; repeat to compare")] = ["single", "dragin"],
    max_questions: Annotated[Optional[int], typer.Option(help="the first N questions (a fixed sample)")] = None,
    skip_questions: Annotated[int, typer.Option(help="start after the first N questions", min=0)] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="report folder")] = Path("reports/dynamic"),
    retriever: Annotated[str, typer.Option(help=" | ".join(RETRIEVERS))] = "bm25",
    model: Annotated[Optional[str], typer.Option(help="LLM (default from settings)")] = None,
    max_new_tokens: int = 96,
    option: Annotated[Optional[list[str]], typer.Option(
        help="KEY=VALUE for the policies, e.g. threshold=5.0, flare_threshold=0.35, max_retrievals=5")] = None,
    translator: Annotated[Optional[str], typer.Option(
        help="DyPRAG translator name or folder (default: dyprag)")] = None,
    baseline: Annotated[Optional[str], typer.Option(
        help="policy the others are tested against (EM/accuracy: McNemar, F1: paired t-test; Holm) "
             "(default: the first)")] = None,
) -> None:
    """Evaluate dynamic retrieval (DRAGIN and its baselines): EM/F1 or accuracy with 95% CIs and paired tests,
    retrieval and LM calls, latency."""
    from evals.dynamic_runner import run_dynamic_evaluation

    run_dynamic_evaluation(dataset, policy, max_questions, out_dir, retriever, model, max_new_tokens,
                           _key_values(option or [], "--option"), translator, skip_questions, baseline)
    out.print(f"report: {out_dir / 'report.json'}")


@collections_app.command("list")
def collections_list() -> None:
    """List collection names."""
    from indexes.retriever import collection_manager

    for name in collection_manager().names():
        out.print(name)


@collections_app.command("create")
def collections_create(name: str, description: str = "") -> None:
    """Create an empty collection."""
    from indexes.retriever import collection_manager

    collection_manager().create(name, description)
    out.print(f"created {name}")


@collections_app.command("ingest")
def collections_ingest(
    name: str,
    paths: Annotated[Optional[list[str]], typer.Argument(help="with --files: files, folders (recursively) or "
                                                         "glob patterns", show_default=False)] = None,
    beir: Annotated[Optional[Path], typer.Option(help="a BEIR folder whose corpus to ingest")] = None,
    jsonl: Annotated[Optional[Path], typer.Option(help="JSONL of {id|_id, text|content, title?, meta?}")] = None,
    files: Annotated[bool, typer.Option("--files", help="ingest PDF, DOCX, HTML, Markdown or text files: "
                                        "`--files PATH...` (docs/documents.md)")] = False,
) -> None:
    """Add or update documents (validated in full before anything is written), as a job; or, with --files, users'
    files converted and chunked (a file whose name was ingested before replaces that source)."""
    from indexes.ingest_files import read_documents_file
    from indexes.retriever import collection_manager
    from workers.runner import job_runner
    from workers.upload_staging import stage_upload

    collection_manager().get(name)
    if files or paths:
        if not files or beir is not None or jsonl is not None or not paths:
            raise typer.BadParameter("give files as `--files PATH...`, without --beir or --jsonl")
        _ingest_files(name, paths)
        return
    if (beir is None) == (jsonl is None):
        raise typer.BadParameter("give exactly one of --beir, --jsonl or --files")
    if beir is not None:
        from evals.beir_loader import read_corpus

        documents = list(read_corpus(beir))
    else:
        documents = read_documents_file(jsonl)
    _follow(job_runner().submit("ingest", {"collection": name, "upload": stage_upload(documents)}).id)


def _ingest_files(name: str, patterns: list[str]) -> None:
    """Convert the files with a progress bar, then follow the job; per-file errors on stderr, the result as JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from indexes.sources.local_files import expand_paths
    from workers.file_staging import IncomingFile, stage_files

    found, unmatched = expand_paths(patterns)
    for sentence in unmatched:
        err.print(sentence, markup=False, soft_wrap=True)
    if not found:
        raise InvalidInputError("No files to ingest: no path given matches a file.")
    incoming = [IncomingFile(name=path.name, size=path.stat().st_size, read=path.read_bytes) for path in found]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("converting", total=len(incoming))
        job = stage_files(name, incoming, on_file=lambda outcome: progress.advance(task))
    result = _wait_for(job.id)
    for outcome in result["files"]:
        if outcome["status"] == "failed":
            err.print(outcome["error"], markup=False, soft_wrap=True)
    out.print_json(json.dumps(result))


@collections_app.command("build")
def collections_build(
    name: str,
    kind: Annotated[list[str], typer.Option(
        help=f"{' | '.join(KIND_NAMES)}; repeat for several")] = ["bm25", "dense"],
    index_type: Annotated[str, typer.Option(help="dense only: flat (exact) | hnsw")] = "flat",
    tilde_model: Annotated[Optional[str], typer.Option(help="tilde only: trained scorer name or folder")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the jobs with a progress bar")] = True,
) -> None:
    """Build new index versions as jobs; each is published atomically when it finishes."""
    _check_background(wait)
    from indexes.index_kind import index_kind
    from indexes.retriever import collection_manager
    from workers.runner import job_runner

    for k in kind:
        index_kind(k)
    collection_manager().get(name)
    for k in kind:
        options = {"dense": {"index_type": index_type}, "tilde": {"model": tilde_model} if tilde_model else {}}.get(k, {})
        job = job_runner().submit("build", {"collection": name, "kind": k, "options": options})
        out.print(f"job {job.id}: build {name}/{k}")
        if wait:
            _follow(job.id)


@collections_app.command("status")
def collections_status(name: str) -> None:
    """Documents, revision, live index versions."""
    from indexes.retriever import collection_manager

    out.print_json(json.dumps(collection_manager().get(name).status()))


@collections_app.command("delete")
def collections_delete(name: str) -> None:
    """Delete a collection and all its indexes."""
    from indexes.retriever import collection_manager

    collection_manager().delete(name)
    out.print(f"deleted {name}")


@app.command("tune")
def tune(
    collection: str,
    passages: Annotated[int, typer.Option(help="passages sampled to write one query each for")] = 1000,
    examples: Annotated[Optional[Path], typer.Option(help="file of 2-8 example queries of the collection, one a line "
                                                          "(a few-shot prompt in their style)")] = None,
    heldout_share: Annotated[float, typer.Option(help="share of passages whose queries only check the model")] = 0.2,
    epochs: int = 1,
    batch_size: int = 32,
    force: Annotated[bool, typer.Option("--force", help="publish even if the held-out check finds it worse")] = False,
    revert: Annotated[bool, typer.Option("--revert", help="serve the shipped encoder again (re-indexes dense)")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Tune the collection's dense encoder (and `embedding` reranker) on queries the local LLM writes from its own
    passages, filtered by round trip, with mined negatives; published only if a held-out check finds it no worse."""
    _check_background(wait)
    from workers.tune_submission import revert_tuning, submit_tune

    if revert:
        reverted = revert_tuning(collection)
        job = reverted.pop("reindex_job")
        out.print_json(json.dumps({**reverted, "reindex_job": job.id if job else None}))
        if job is not None and wait:
            _follow(job.id)
        return
    from rag.tuning.tune_spec import TuneSpec

    if examples is not None and not examples.is_file():
        raise NotFoundError(f"No examples file {examples}.")
    lines = examples.read_text(encoding="utf-8", errors="replace").splitlines() if examples else []
    spec = _validated(TuneSpec, passages=passages, examples=lines, heldout_share=heldout_share, force=force,
                      training={"epochs": epochs, "batch_size": batch_size})
    job = submit_tune(collection, spec)
    out.print(f"job {job.id}: tune {collection} ({passages} passages)")
    if wait:
        _follow(job.id)


jobs_app = typer.Typer(help="Follow, list and cancel jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


def _check_background(wait: bool) -> None:
    """``--no-wait`` leaves the job to a Celery worker; the embedded runner runs it inside this command, so
    returning at once would stop it: refuse before anything is submitted."""
    from core.settings import get_settings

    if not wait and not get_settings().redis_url:
        raise InvalidInputError("--no-wait needs a Celery worker (set SIFTRAG_REDIS_URL and run `siftrag worker`): "
                                "without one the job runs inside this command and would stop when it returns.")


def _follow(job_id: str) -> None:
    """Show a job's progress until it finishes, then its result; exit non-zero unless it succeeded."""
    out.print_json(json.dumps(_wait_for(job_id)))


def _wait_for(job_id: str) -> dict:
    """Show a job's progress until it finishes; its result, or SiftragError unless it succeeded."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.runner import job_runner

    store = job_runner().store
    job = store.get(job_id)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(f"{job.type} {job.id[:8]}", total=None)
        while not job.state.finished:
            progress.update(task, completed=job.done, total=job.total, description=f"{job.type} {job.state.value}")
            time.sleep(0.3)
            job = store.get(job_id)
    if job.state.value != "succeeded":
        raise SiftragError(f"Job {job.id} {job.state.value}: {job.error or 'no error recorded'}")
    return job.result


@jobs_app.command("list")
def jobs_list(limit: int = 20) -> None:
    """The most recent jobs."""
    from rich.table import Table

    from workers.runner import job_runner

    table = Table("id", "type", "state", "progress", "params")
    for job in job_runner().store.list(limit):
        table.add_row(job.id, job.type, job.state.value, f"{job.done}/{job.total or '?'}", json.dumps(job.params)[:60])
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: str, follow: Annotated[bool, typer.Option(help="wait for it to finish")] = False) -> None:
    """One job as JSON (or follow it to the end)."""
    from workers.runner import job_runner

    if follow:
        _follow(job_id)
    else:
        out.print_json(job_runner().store.get(job_id).model_dump_json())


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Ask a job to stop."""
    from workers.runner import job_runner

    out.print_json(job_runner().cancel(job_id).model_dump_json())


train_app = typer.Typer(help="Train the models siftrag learns itself.", no_args_is_help=True)
# options shared by the trainings that pool judged training splits and mine hard negatives
PooledFolders = Annotated[list[Path], typer.Option(help="BEIR (or QA) folder with a training split; repeat to pool "
                                                        "several")]
MiningDepth = Annotated[int, typer.Option(help="negatives come from each first stage's top-N", min=1)]
DenseNegatives = Annotated[bool, typer.Option(help="mine negatives from the dense encoder too")]
SkipQuestions = Annotated[int, typer.Option(help="QA folder: leave out its first N questions, the eval-answers "
                                                 "sample", min=0)]
app.add_typer(train_app, name="train")


@train_app.command("tilde")
def train_tilde(
    dataset: Annotated[Path, typer.Option(help="BEIR folder with a train split (queries + qrels)")] = Path(
        "data/sample/scifact"),
    name: Annotated[str, typer.Option(help="scorer name, saved under <data_dir>/models/tilde/")] = "tilde-scifact",
    encoder: Annotated[str, typer.Option(help="BERT-vocabulary encoder: registry name or folder")] = "splade-tiny-bert",
    split: str = "train",
    epochs: int = 2,
    batch_queries: int = 8,
    group_size: Annotated[int, typer.Option(help="1 positive + BM25 hard negatives per query")] = 8,
    learning_rate: float = 2e-4,
    max_length: int = 384,
    expansion_top_k: Annotated[int, typer.Option(help="expansion terms predicted per passage (0: none)")] = 200,
    seed: int = 13,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Train a TILDEv2 scorer as a job (contrastive, BM25 hard negatives + in-batch negatives); resumes if
    interrupted."""
    _check_background(wait)
    from evals.reranker_training_set import training_split
    from indexes.tilde.training import TrainingConfig
    from workers.job_functions import resolve_encoder
    from workers.runner import job_runner

    options = {"epochs": epochs, "batch_queries": batch_queries, "group_size": group_size,
               "learning_rate": learning_rate, "max_length": max_length, "seed": seed}
    _check_options(TrainingConfig, encoder=encoder, out=Path(name), **options)
    if not dataset.is_dir():
        raise NotFoundError(f"No dataset folder {dataset}.")
    resolve_encoder(encoder)  # an encoder that is not installed fails before the job
    training_split(dataset, split)  # leaks and empty splits fail before the job
    job = job_runner().submit("train_tilde", {"dataset": str(dataset.resolve()), "name": name, "encoder": encoder,
                                              "split": split, "expansion_top_k": expansion_top_k, **options})
    out.print(f"job {job.id}: train tilde {name}  (then `siftrag collections build NAME --kind tilde`)")
    if wait:
        _follow(job.id)


@train_app.command("dyprag")
def train_dyprag(
    dataset: Annotated[Path, typer.Option(help="QA folder: corpus and questions*.jsonl[.gz]")],
    name: Annotated[str, typer.Option(help="translator name, saved under <data_dir>/models/dyprag/")] = "dyprag",
    model: Annotated[Optional[str], typer.Option(help="LLM (default from settings)")] = None,
    documents: Annotated[int, typer.Option(help="documents (top-3 passages of training questions)")] = 32,
    validation_documents: Annotated[int, typer.Option(help="of those, held out to measure the translator")] = 6,
    question_offset: Annotated[int, typer.Option(help="training questions start here; earlier ones stay a "
                                                      "test sample")] = 200,
    epochs: Annotated[int, typer.Option(help="translator epochs (reference: 1)")] = 1,
    learning_rate: Annotated[float, typer.Option(help="translator AdamW learning rate (reference: 1e-5)")] = 1e-5,
    lora_epochs: Annotated[int, typer.Option(help="PRAG LoRA epochs per document (reference: 1)")] = 1,
    lora_learning_rate: Annotated[float, typer.Option(help="PRAG LoRA learning rate (reference: 3e-4)")] = 3e-4,
    augmentation_attempts: Annotated[int, typer.Option(help="QA generations tried per document until one gives "
                                                            "three QA triples")] = 2,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Train a DyPRAG parameter translator as a job: a PRAG LoRA per document (QA pairs the LLM writes from it),
    then the translator that predicts those LoRAs from the document's hidden state."""
    _check_background(wait)
    from core.settings import get_settings
    from rag.parametric.translator_training import DypragTraining
    from workers.runner import job_runner

    options = {"documents": documents, "validation_documents": validation_documents,
               "question_offset": question_offset, "epochs": epochs,
               "learning_rate": learning_rate, "lora_epochs": lora_epochs, "lora_learning_rate": lora_learning_rate,
               "augmentation_attempts": augmentation_attempts}
    DypragTraining.from_options(model or get_settings().llm_model, options)  # bad options fail before the job
    if not dataset.is_dir():
        raise NotFoundError(f"No dataset folder {dataset}.")
    job = job_runner().submit("train_dyprag", {"dataset": str(dataset.resolve()), "name": name, "model": model,
                                               **options})
    out.print(f"job {job.id}: train dyprag {name}")
    if wait:
        _follow(job.id)


@train_app.command("reranker")
def train_reranker(
    objective: Annotated[str, typer.Option(help=" | ".join(OBJECTIVES))],
    name: Annotated[str, typer.Option(help="adapter name, saved under <data_dir>/models/rerankers/")],
    dataset: Annotated[Path, typer.Option(help="BEIR folder with a training split (queries + qrels)")] = Path(
        "data/sample/scifact"),
    model: Annotated[str, typer.Option(help="base LLM (registry name)")] = "smollm2-135m-instruct",
    split: str = "train",
    skip_questions: Annotated[int, typer.Option(help="QA folder (StrategyQA): leave out its first N questions, the "
                                                     "eval-answers sample", min=0)] = 200,
    depth: Annotated[int, typer.Option(help="BM25 candidates per training query")] = 20,
    window: Annotated[int, typer.Option(help="candidates per prompt (first, fullrank)")] = 20,
    passage_words: Annotated[int, typer.Option(help="words per passage in the prompt")] = 30,
    epochs: int = 1,
    max_examples: Annotated[Optional[int], typer.Option(help="train on this many queries (seeded choice)")] = None,
    learning_rate: float = 2e-4,
    lora_rank: int = 16,
    ranking_weight: Annotated[float, typer.Option(help="first: λ of the RankNet term")] = 10.0,
    shuffle_fraction: Annotated[float, typer.Option(help="first, fullrank: share of steps with the candidates "
                                                         "shuffled (the rest in first-stage order)")] = 1.0,
    teacher: Annotated[str, typer.Option(help="order to learn: labels (judged positives, then BM25's order) | "
                                              "embedding (judged positives, then the fused embedding reranker's)")
                       ] = "labels",
    seed: int = 13,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Train a reranker LoRA adapter as a job (FIRST, full ranking or pointwise objective); resumes if
    interrupted. Use it as `--rerank-model BASE+NAME` (or NAME)."""
    _check_background(wait)
    from rerankers.training.trainer import RerankerTraining
    from workers.runner import job_runner

    options = {"model": model, "window": window, "passage_words": passage_words, "epochs": epochs,
               "max_examples": max_examples, "learning_rate": learning_rate, "lora_rank": lora_rank,
               "lora_alpha": 2 * lora_rank, "ranking_weight": ranking_weight, "shuffle_fraction": shuffle_fraction,
               "seed": seed}
    _check_options(RerankerTraining, objective=objective, **options)
    check_base_model(model)
    if not dataset.is_dir():
        raise NotFoundError(f"No dataset folder {dataset}.")
    from evals.reranker_training_set import check_teacher, training_split

    check_teacher(teacher)
    training_split(dataset, split, skip_questions=skip_questions)  # leaks and empty splits fail before the job
    job = job_runner().submit("train_reranker", {"dataset": str(dataset.resolve()), "name": name,
                                                 "objective": objective, "split": split, "depth": depth,
                                                 "skip_questions": skip_questions, "teacher": teacher, **options})
    out.print(f"job {job.id}: train reranker {name} ({objective} on {model})")
    if wait:
        _follow(job.id)


@train_app.command("cross-encoder")
def train_cross_encoder(
    name: Annotated[str, typer.Option(help="model name, saved under <data_dir>/models/rerankers/")],
    dataset: PooledFolders = [Path("data/sample/scifact")],  # noqa: B006
    init: Annotated[str, typer.Option(help="BERT-family encoder to start from (registry name)")] = "all-minilm-l6-v2",
    loss: Annotated[str, typer.Option(help="bce (pairs) | lambda (LambdaLoss over each query's list)")] = "bce",
    negatives: Annotated[int, typer.Option(help="hard negatives per query", min=1, max=50)] = 7,
    depth: MiningDepth = 30,
    dense_negatives: DenseNegatives = True,
    split: str = "train",
    skip_questions: SkipQuestions = 200,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: Annotated[int, typer.Option(help="tokens of query + passage")] = 256,
    max_queries: Annotated[Optional[int], typer.Option(help="train on this many queries (seeded choice)")] = None,
    seed: int = 13,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Train a cross-encoder reranker as a job (sentence-transformers' CrossEncoderTrainer; judged positives and
    BM25 + dense hard negatives); resumes if interrupted. Use it as `bm25>cross-encoder:model=NAME`."""
    _check_background(wait)
    from core.adapters import ADAPTER_NAME
    from core.settings import get_settings
    from rerankers.training.cross_encoder_trainer import CrossEncoderTraining, init_encoder
    from workers.runner import job_runner

    options = {"init": init, "loss": loss, "epochs": epochs, "batch_size": batch_size,
               "learning_rate": learning_rate, "max_length": max_length, "max_queries": max_queries, "seed": seed}
    _check_options(CrossEncoderTraining, **options)
    if not ADAPTER_NAME.fullmatch(name):
        raise InvalidInputError(f"'{name}' is not a model name (letters, digits, '.', '_', '-').")
    init_encoder(init)  # another architecture or a missing package fails before the job
    _check_training_folders(dataset, split, skip_questions)
    job = job_runner().submit("train_cross_encoder", {
        "datasets": [str(folder.resolve()) for folder in dataset], "name": name, "negatives": negatives,
        "depth": depth, "dense_model": get_settings().embedding_model if dense_negatives else None, "split": split,
        "skip_questions": skip_questions, **options})
    out.print(f"job {job.id}: train cross-encoder {name} (from {init}, {loss})")
    if wait:
        _follow(job.id)


@train_app.command("embedder")
def train_embedder(
    name: Annotated[str, typer.Option(help="encoder name, saved under <data_dir>/models/encoders/")],
    dataset: PooledFolders = [Path("data/sample/scifact")],  # noqa: B006
    base: Annotated[str, typer.Option(help="sentence encoder to start from (registry name)")] = "all-minilm-l6-v2",
    negatives: Annotated[int, typer.Option(help="hard negatives mined per query (one goes with each positive)",
                                           min=1, max=50)] = 1,
    depth: MiningDepth = 30,
    dense_negatives: DenseNegatives = True,
    split: str = "train",
    skip_questions: SkipQuestions = 200,
    epochs: int = 1,
    batch_size: Annotated[int, typer.Option(help="queries per step (in-batch negatives)")] = 32,
    learning_rate: float = 2e-5,
    max_length: Annotated[int, typer.Option(help="tokens of a passage read while training")] = 256,
    half: Annotated[bool, typer.Option("--half/--full-precision", help="store the weights in fp16 (half the "
                                                                      "size; they load as fp32)")] = True,
    leave_out_calibration: Annotated[bool, typer.Option(help="leave out the training queries the relevance "
                                                             "calibration fits on (no shipped model trained on "
                                                             "them): for a model that will ship")] = False,
    seed: int = 13,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Fine-tune the sentence encoder on judged training queries as a job (sentence-transformers'
    SentenceTransformerTrainer, MultipleNegativesRankingLoss: in-batch + BM25/dense hard negatives); resumes if
    interrupted. Use it as `bm25>embedding:model=NAME`, or as SIFTRAG_EMBEDDING_MODEL for the dense index."""
    _check_background(wait)
    from core.adapters import ADAPTER_NAME
    from core.model_registry import REGISTRY
    from core.settings import get_settings
    from indexes.encoder_training import EncoderTraining
    from workers.runner import job_runner

    options = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "max_length": max_length,
               "seed": seed}
    _check_options(EncoderTraining, **options)
    if not ADAPTER_NAME.fullmatch(name) or name in REGISTRY:
        raise InvalidInputError(f"'{name}' is not a new encoder name (letters, digits, '.', '_', '-'; not a "
                                "registry model).")
    if getattr(REGISTRY.get(base), "kind", None) != "sentence-transformer":
        choices = ", ".join(n for n, spec in REGISTRY.items() if spec.kind == "sentence-transformer")
        raise InvalidInputError(f"'{base}' is not a sentence encoder of the registry: use one of {choices}.")
    _check_training_folders(dataset, split, skip_questions)
    job = job_runner().submit("train_embedder", {
        "datasets": [str(folder.resolve()) for folder in dataset], "name": name, "base": base,
        "negatives": negatives, "depth": depth,
        "dense_model": get_settings().embedding_model if dense_negatives else None, "split": split,
        "skip_questions": skip_questions, "half": half, "leave_out_calibration": leave_out_calibration, **options})
    out.print(f"job {job.id}: train embedder {name} (from {base})")
    if wait:
        _follow(job.id)


@train_app.command("reader")
def train_reader(
    name: Annotated[str, typer.Option(help="adapter name, saved under <data_dir>/models/readers/")],
    dataset: Annotated[list[Path], typer.Option(help="QA folder: corpus, questions*.jsonl[.gz], qrels of the gold "
                                                     "passages; repeat to pool several")],
    model: Annotated[str, typer.Option(help="base LLM (registry name)")] = "smollm2-135m-instruct",
    answer_format: Annotated[Optional[str], typer.Option(
        help="short | yes-no (default: yes-no for yes/no datasets, else short)")] = None,
    skip_questions: Annotated[list[int], typer.Option(
        help="the evaluation sample: training starts after the first N questions; one value for every folder, or "
             "one per --dataset in their order", min=0)] = [200],  # noqa: B006
    max_questions: Annotated[Optional[int], typer.Option(help="train on at most N questions after those, per "
                                                              "folder")] = None,
    top_k: Annotated[int, typer.Option(help="passages per prompt (serve with the same rag@K)")] = 5,
    passage_words: Annotated[Optional[int], typer.Option(help="words per passage in the prompt")] = None,
    oracle_fraction: Annotated[float, typer.Option(help="share of examples with the missed gold passages put "
                                                        "into the context (RAFT's P)")] = 0.8,
    epochs: int = 1,
    learning_rate: float = 5e-4,
    lora_rank: int = 16,
    seed: int = 13,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Train a reader LoRA adapter (RAFT) as a job: the answer prompt over retrieved passages with the gold ones
    swapped in, the reply = reasoning steps citing them + the answer; resumes if interrupted. Use it as
    `--model BASE+NAME` (or NAME)."""
    _check_background(wait)
    from evals.qa_dataset import read_questions
    from rag.reader_training import ReaderTraining
    from workers.runner import job_runner

    if len(skip_questions) not in (1, len(dataset)):
        raise InvalidInputError(f"Give --skip-questions once or once per --dataset ({len(dataset)}), not "
                                f"{len(skip_questions)} times.")
    skips = skip_questions * len(dataset) if len(skip_questions) == 1 else skip_questions
    for folder in dataset:
        if not folder.is_dir():
            raise NotFoundError(f"No dataset folder {folder}.")
        if not (folder / "qrels").is_dir():
            raise InvalidInputError(f"{folder} has no qrels/ folder: reader training needs each question's gold "
                                    "passages.")
    if answer_format is None:
        yes_no = all(q.answers[0] in ("yes", "no")
                     for folder, skip in zip(dataset, skips) for q in read_questions(folder, skip + 50))
        answer_format = "yes-no" if yes_no else "short"
    options = {"model": model, "answer_format": answer_format, "top_k": top_k, "passage_words": passage_words,
               "oracle_fraction": oracle_fraction, "epochs": epochs, "learning_rate": learning_rate,
               "lora_rank": lora_rank, "lora_alpha": 2 * lora_rank, "seed": seed}
    _check_options(ReaderTraining, **options)
    check_base_model(model)
    job = job_runner().submit("train_reader", {"datasets": [str(folder.resolve()) for folder in dataset],
                                               "name": name, "skip_questions": skips,
                                               "max_questions": max_questions, **options})
    out.print(f"job {job.id}: train reader {name} ({answer_format} on {model})")
    if wait:
        _follow(job.id)


@train_app.command("yes-no-head")
def train_yes_no_head(
    name: Annotated[str, typer.Option(help="head name, saved under <data_dir>/models/heads/")],
    dataset: Annotated[Path, typer.Option(help="QA folder whose questions are answered yes or no (StrategyQA)")],
    model: Annotated[str, typer.Option(help="the answering LLM (registry name) whose states the head reads")]
    = "smollm2-135m-instruct",
    skip_questions: Annotated[int, typer.Option(help="the evaluation sample: training starts after the first N "
                                                     "questions", min=0)] = 200,
    max_questions: Annotated[Optional[int], typer.Option(help="fit on at most N questions after those", min=1)]
    = None,
    top_k: Annotated[int, typer.Option(help="BM25 passages per prompt (0: closed-book); serve with the same "
                                            "top_k", min=0, max=20)] = 5,
    passage_words: Annotated[int, typer.Option(help="words per passage in the prompt", min=1)] = 50,
    layer: Annotated[Optional[int], typer.Option(help="the layer to read (0: embeddings; default: the one that "
                                                      "cross-validates best)", min=0)] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
) -> None:
    """Fit a yes/no decision head as a job: a logistic regression on the answering LLM's hidden state at the end
    of the `yes-no` answer prompt (BM25 top-k passages) plus "So the answer is:"; resumes if interrupted. A head
    shipped under models/heads/ decides `yes-no` answers of its base model."""
    _check_background(wait)
    from evals.yes_no_training_set import yes_no_questions
    from workers.runner import job_runner

    if not dataset.is_dir():
        raise NotFoundError(f"No dataset folder {dataset}.")
    yes_no_questions(dataset, skip_questions, max_questions)  # too few fail before the job
    check_base_model(model)
    if layer is not None:
        from transformers import AutoConfig

        from core.model_loading import causal_lm_dir

        layers = AutoConfig.from_pretrained(causal_lm_dir(model)).num_hidden_layers
        if layer > layers:
            raise InvalidInputError(f"{model} has no layer {layer}: it has {layers} (0 = the embeddings).")
    job = job_runner().submit("train_yes_no_head", {"dataset": str(dataset.resolve()), "name": name, "model": model,
                                                    "skip_questions": skip_questions, "max_questions": max_questions,
                                                    "top_k": top_k, "passage_words": passage_words, "layer": layer})
    out.print(f"job {job.id}: train yes/no head {name} (on {model})")
    if wait:
        _follow(job.id)


def _validated(config_class: type, **options: object) -> Any:
    """``config_class(**options)``; a bad option exits with a sentence."""
    try:
        return config_class(**options)
    except ValidationError as error:
        problem = error.errors()[0]
        raise InvalidInputError(f"Invalid option {'.'.join(map(str, problem['loc']))}: {problem['msg']}.") from None


def _check_training_folders(folders: list[Path], split: str, skip_questions: int) -> None:
    """Missing folders, leaking or empty training splits fail before a training job is submitted."""
    from evals.reranker_training_set import training_split

    for folder in folders:
        if not folder.is_dir():
            raise NotFoundError(f"No dataset folder {folder}.")
        training_split(folder, split, skip_questions=skip_questions)


def _check_options(config_class: type, **options: object) -> None:
    """Training options validated before a job is submitted; a bad one exits with a sentence."""
    from pydantic import ValidationError

    try:
        config_class(**options)
    except ValidationError as error:
        problem = error.errors()[0]
        raise InvalidInputError(f"Invalid training option {'.'.join(map(str, problem['loc']))}: "
                                f"{problem['msg']}.") from None


def check_base_model(model: str) -> None:
    """A causal LM (registry name, folder or hub id) with a chat template (the reranker and answer prompts are
    chat prompts)."""
    from transformers import AutoTokenizer

    from core.model_loading import causal_lm_dir
    from core.model_registry import REGISTRY

    if model in REGISTRY and REGISTRY[model].kind != "gguf-causal-lm":
        choices = ", ".join(n for n, s in REGISTRY.items() if s.kind == "gguf-causal-lm")
        raise InvalidInputError(f"Base model '{model}' is not an LLM: use one of {choices}.")
    if AutoTokenizer.from_pretrained(causal_lm_dir(model)).chat_template is None:
        raise InvalidInputError(f"Base model '{model}' has no chat template: the prompts need one.")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the REST API (uvicorn). With SIFTRAG_REDIS_URL set, jobs go to Celery workers."""
    import uvicorn
    from pydantic import ValidationError

    from core.settings import get_settings

    try:
        get_settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise SiftragError(f"The SIFTRAG_* settings are invalid, not starting: {problems}") from None

    uvicorn.run("api.app:app", host=host, port=port, workers=workers, log_level="warning")


@app.command("worker")
def worker(concurrency: int = 1, loglevel: str = "warning") -> None:
    """Run a Celery worker (needs SIFTRAG_REDIS_URL)."""
    from core.settings import get_settings

    if not get_settings().redis_url:
        raise SiftragError("A worker needs SIFTRAG_REDIS_URL (e.g. redis://127.0.0.1:6379/0).")
    import os

    from workers.celery_app import celery_app

    os.environ["SIFTRAG_WORKER_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(concurrency, 1)))
    celery_app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
                            "--pool=prefork", "--without-gossip", "--without-mingle"])


QUICKSTART_QUESTION = "Which vitamin deficiency raises the risk of bone fractures?"
# The quick-start's answer: the default reader (the `short` format's adapter) over hybrid top-5; a test asks it.
QUICKSTART_ANSWER = {"retriever": "hybrid", "top_k": 5, "max_new_tokens": 128, "answer_format": "short"}


@app.command("quickstart")
def quickstart(
    sample: Annotated[Path, typer.Option(help="sample BEIR dataset")] = Path("data/sample/scifact"),
    evaluate_sample: Annotated[bool, typer.Option("--eval/--no-eval", help="also score the test split")] = True,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="then serve the REST API")] = True,
    port: int = 8000,
) -> None:
    """Index the bundled SciFact sample (bm25, dense, tilde), evaluate it, answer example queries, serve the API."""
    from evals.beir_loader import load_beir
    from evals.dataset_collection import collection_name_for, ensure_dataset_collection
    from evals.engine import EvaluationSpec
    from evals.report import render_table
    from evals.runner import run_evaluation
    from indexes.retriever import collection_manager
    from rag.retrieval import make_retriever

    err.print(f"indexing the sample collection from {sample} (the first run encodes 5,183 passages twice, MiniLM "
              "and TILDEv2 with expansion: 10-15 min on 2 cores; later runs reuse the caches)")
    if evaluate_sample:
        spec = EvaluationSpec(dataset=str(sample.resolve()), pipelines=["bm25", "dense", "hybrid", "tilde", "bm25>tilde"])
        out.print(render_table(run_evaluation(spec, console=err)))
    else:
        ensure_dataset_collection(collection_manager(), sample, ["bm25", "dense", "tilde"])
    data = load_beir(sample)
    name = collection_name_for(sample)
    retriever = make_retriever("hybrid", name)
    for qid in sorted(data.queries)[:3]:
        out.print(f"\n[bold]{data.queries[qid]}[/bold]")
        for document in retriever.run(data.queries[qid], top_k=3)["documents"]:
            out.print(f"  [{document.id}] {document.meta.get('title', '')[:90]}")
    from rag.answer_pipeline import AnswerConfig, AnswerPipeline

    question = QUICKSTART_QUESTION
    pipeline = AnswerPipeline(name, AnswerConfig(**QUICKSTART_ANSWER))
    result = pipeline.run(question)
    out.print(f"\n[bold]question[/bold]: {question}\n[bold]answer[/bold] ({pipeline.generator.model}, hybrid top-5, short): "
              f"{result['answer']}\n  {result['output']}", highlight=False)
    for citation in result["citations"]:
        out.print(f"  [{citation['n']}] {citation['title'] or citation['id']}", highlight=False)
    if serve_api:
        out.print(f"\nserving on http://127.0.0.1:{port} (Ctrl-C stops). Try:\n  curl -s localhost:{port}/v1/search "
                  f"-H 'Content-Type: application/json' -d '{{\"collection\": \"{name}\", \"query\": "
                  f"\"vitamin D and bone health\", \"retriever\": \"hybrid\", \"top_k\": 3}}'\n  curl -sN localhost:{port}/v1/answer/stream "
                  f"-H 'Content-Type: application/json' -d '{{\"collection\": \"{name}\", \"question\": "
                  f"\"{QUICKSTART_QUESTION}\", \"retriever\": \"hybrid\", \"top_k\": 3}}'")
        serve(port=port)


def _key_values(pairs: list[str], flag: str = "--rerank-option") -> dict[str, object]:
    """"window=20" → {"window": 20}; values are JSON when they parse, else strings."""
    from evals.pipelines import key_values

    return key_values(pairs, flag)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    sys.exit(code)


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    try:
        app(standalone_mode=False)
    except SiftragError as error:
        _fail(str(error), error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except ValidationError as error:  # a SIFTRAG_* setting with a bad value
        if error.title != "Settings":
            raise
        problems = "; ".join(f"SIFTRAG_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
        _fail(f"Invalid setting: {problems}.", 2)
    except Exception as error:  # usage errors (click's, or the copy typer vendors) arrive here
        exit_code = getattr(error, "exit_code", None)
        if isinstance(exit_code, int) and hasattr(error, "format_message"):
            _fail(error.format_message(), exit_code)
        raise


if __name__ == "__main__":
    main()
