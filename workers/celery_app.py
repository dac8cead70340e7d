"""The Celery app: Redis as broker and result backend (``SIFTRAG_REDIS_URL``)."""
from __future__ import annotations

import os
from functools import lru_cache

from celery import Celery
from celery.signals import worker_process_init

import core  # noqa: F401  (offline defaults)
from core.settings import get_settings


@lru_cache(maxsize=4)
def make_celery(redis_url: str) -> Celery:
    app = Celery("siftrag", broker=redis_url, backend=redis_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=False,  # a killed worker's job is reaped as failed, not replayed half-done
        worker_prefetch_multiplier=1,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


@worker_process_init.connect
def share_the_cores(**_: object) -> None:
    """Each prefork child uses ``SIFTRAG_WORKER_THREADS`` torch threads (cores // concurrency, set by
    ``siftrag worker``), so a worker's children do not oversubscribe the machine."""
    threads = os.environ.get("SIFTRAG_WORKER_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def current_celery() -> Celery:
    """The Celery app for the configured Redis URL."""
    return make_celery(get_settings().redis_url or "redis://127.0.0.1:6379/0")


celery_app = current_celery()
