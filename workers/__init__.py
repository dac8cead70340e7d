"""Jobs (builds, ingest, evaluations, training): the Celery app and tasks over Redis, and the in-process runner of
the embedded default."""
