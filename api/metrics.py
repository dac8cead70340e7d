"""Prometheus metrics: request latency by route, job counts by state, index sizes."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from core.model_cache import load_counts

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST  # what /metrics answers, as its OpenAPI entry says
REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "siftrag_request_seconds", "HTTP request latency", ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS = Gauge("siftrag_jobs", "Jobs among the most recent 500, by state", ["state"], registry=REGISTRY)
INDEX_DOCUMENTS = Gauge("siftrag_index_documents", "Documents in the live index version",
                        ["collection", "kind"], registry=REGISTRY)
COLLECTION_DOCUMENTS = Gauge("siftrag_collection_documents", "Documents in the store", ["collection"],
                             registry=REGISTRY)
REQUESTS_SHED = Counter("siftrag_requests_shed", "Requests answered 503 because too many were in flight",
                        registry=REGISTRY)
ANSWER_STREAMS = Counter("siftrag_answer_streams", "Streamed answers by outcome (completed, disconnected, failed)",
                         ["outcome"], registry=REGISTRY)


class ModelLoads(Collector):
    """``siftrag_model_loads_total{cache="llm"}``: models this process loaded (a request found it not held)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("siftrag_model_loads", "Models loaded by this process, by cache", labels=["cache"])
        for cache, count in sorted({"llm": 0, **load_counts()}.items()):
            family.add_metric([cache], count)
        yield family


REGISTRY.register(ModelLoads())


def render() -> bytes:
    """Refresh the gauges from the job store and the collections, then render the exposition text."""
    from indexes.retriever import collection_manager
    from workers.job_model import JobState
    from workers.runner import job_runner

    counts = {state.value: 0 for state in JobState}
    for job in job_runner().store.list(500):
        counts[job.state.value] += 1
    for state, count in counts.items():
        JOBS.labels(state).set(count)
    manager = collection_manager()
    COLLECTION_DOCUMENTS.clear()  # deleted collections disappear from the exposition
    INDEX_DOCUMENTS.clear()
    for name in manager.names():
        status = manager.get(name).status()
        COLLECTION_DOCUMENTS.labels(name).set(status["documents"])
        for kind, info in status["indexes"].items():
            if info["manifest"]:
                INDEX_DOCUMENTS.labels(name, kind).set(info["manifest"]["documents"])
    return generate_latest(REGISTRY)
