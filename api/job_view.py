"""A job as a caller reads it from any route (the 202 of a submission, the jobs routes): its error without server
paths; for all but admins, also without the server paths in its parameters and without the runner's host:pid."""
from __future__ import annotations

from api.auth import Caller
from api.server_paths import without_server_paths
from workers.job_model import Job

SERVER_PATH_PARAMS = ("upload", "dataset", "out")


def job_view(job: Job, who: Caller) -> Job:
    """The job as ``who`` may read it."""
    update = {"error": without_server_paths(job.error)} if job.error else {}
    if not who.is_admin:
        update |= {"params": {k: v for k, v in job.params.items() if k not in SERVER_PATH_PARAMS}, "runner": None}
    return job.model_copy(update=update)
