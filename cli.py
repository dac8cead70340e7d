"""The one ``siftrag`` command: evaluation, collections, search, the quick-start."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

import core  # noqa: F401  (sets offline defaults before Haystack is imported)
from core.errors import SiftragError

app = typer.Typer(help="siftrag: retrieval, reranking and RAG service.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
collections_app = typer.Typer(help="Create, fill, index and inspect collections.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
out = Console()
err = Console(stderr=True)


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Option(help="BEIR folder (corpus.jsonl[.gz], queries, qrels/)")],
    pipeline: Annotated[list[str], typer.Option(help="bm25 | dense | hybrid; repeat to compare")] = ["bm25"],
    split: str = "test",
    top_k: int = 100,
    max_queries: Annotated[Optional[int], typer.Option(help="evaluate only the first N queries")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="report folder")] = None,
) -> None:
    """Evaluate retrieval pipelines on a BEIR dataset: nDCG@10, R@100, MRR@10, MAP and latency."""
    from evals.runner import run_evaluation

    _, report = run_evaluation(dataset, pipeline, split, top_k, out_dir, max_queries)
    out.print(f"report: {report}")


@app.command("score-run")
def score_run(
    run: Annotated[Path, typer.Option(help="TREC run file (plain or .gz)")],
    qrels: Annotated[Path, typer.Option(help="TREC qrels (qid 0 docid grade) or BEIR qrels .tsv[.gz]")],
    rel_level: Annotated[int, typer.Option(help="minimum grade counted relevant by binary measures (-l)")] = 1,
) -> None:
    """Score an existing TREC run with ir-measures (trec_eval conventions)."""
    from evals.beir_loader import read_qrels_tsv
    from evals.metrics import evaluate
    from evals.trec_files import read_qrels, read_run

    judgements = read_qrels_tsv(qrels) if ".tsv" in qrels.name else read_qrels(qrels)
    out.print_json(json.dumps({k: round(v, 4) for k, v in evaluate(read_run(run), judgements, rel_level).items()}))


@app.command("search")
def search_command(
    collection: str,
    query: str,
    retriever: Annotated[str, typer.Option(help="bm25 | dense | hybrid")] = "bm25",
    top_k: int = 5,
) -> None:
    """Search a collection and print the top documents."""
    from evals.pipelines import batch_search

    for rank, document in enumerate(batch_search(retriever, collection)([query], top_k)[0], start=1):
        title = document.meta.get("title", "")
        out.print(f"{rank:>2}. [{document.id}] {document.score:.4f}  {title[:80]}")


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
    beir: Annotated[Optional[Path], typer.Option(help="a BEIR folder whose corpus to ingest")] = None,
    jsonl: Annotated[Optional[Path], typer.Option(help="JSONL of {id|_id, text|content, title?, meta?}")] = None,
) -> None:
    """Add or update documents (validated in full before anything is written)."""
    from indexes.ingest_files import read_documents_file
    from indexes.retriever import collection_manager

    collection = collection_manager().get(name)
    if (beir is None) == (jsonl is None):
        raise typer.BadParameter("give exactly one of --beir or --jsonl")
    if beir is not None:
        from evals.beir_loader import read_corpus

        documents = list(read_corpus(beir))
    else:
        documents = read_documents_file(jsonl)
    out.print(f"ingested {collection.store.upsert(documents)} documents into {name}")


@collections_app.command("build")
def collections_build(
    name: str,
    kind: Annotated[list[str], typer.Option(help="bm25 | dense; repeat for several")] = ["bm25", "dense"],
    index_type: Annotated[str, typer.Option(help="dense only: flat (exact) | hnsw")] = "flat",
) -> None:
    """Build new index versions and publish them atomically."""
    from indexes.index_kind import index_kind
    from indexes.retriever import collection_manager

    for k in kind:
        index_kind(k)
    collection = collection_manager().get(name)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        for k in kind:
            task = progress.add_task(f"building {k}", total=None)
            version = collection.build(k, {"index_type": index_type} if k == "dense" else {},
                                       lambda done, total: progress.update(task, completed=done, total=total))
            out.print(f"{name}/{k}: published {version}")


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


@app.command("quickstart")
def quickstart(
    sample: Annotated[Path, typer.Option(help="sample BEIR dataset")] = Path("data/sample/scifact"),
    evaluate_sample: Annotated[bool, typer.Option("--eval/--no-eval", help="also score the test split")] = True,
) -> None:
    """Index the bundled SciFact sample (bm25 + dense) and answer example queries on it."""
    from evals.beir_loader import load_beir
    from evals.pipelines import batch_search
    from evals.runner import run_evaluation

    err.print(f"indexing the sample collection from {sample} (first run encodes 5,183 passages: ~4 min)")
    if evaluate_sample:
        run_evaluation(sample, ["bm25", "dense", "hybrid"], console=err)
    data = load_beir(sample)
    from evals.dataset_collection import collection_name_for

    for qid in sorted(data.queries)[:3]:
        out.print(f"\n[bold]{data.queries[qid]}[/bold]")
        for document in batch_search("hybrid", collection_name_for(sample))([data.queries[qid]], 3)[0]:
            out.print(f"  [{document.id}] {document.meta.get('title', '')[:90]}")


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
    except Exception as error:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(error, click.ClickException):
            _fail(error.format_message(), error.exit_code)
        raise


if __name__ == "__main__":
    main()
