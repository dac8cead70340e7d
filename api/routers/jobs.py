"""Jobs (read, list, cancel) and batch evaluations.

A job belongs to the collection in its parameters; a ``write`` key sees and cancels the jobs of the collections
it reaches, without the server paths in their parameters. Jobs without a collection (evaluations, training)
are admin-only."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from api.auth import Caller, CallerDep, require_admin
from api.job_view import job_view
from api.json_body import ThreadedJSONRoute
from api.schemas import EvaluationRequest, JobList
from evals.engine import EvaluationSpec
from workers.job_model import Job
from workers.runner import job_runner

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=ThreadedJSONRoute)


def _may_see(job: Job, who: Caller) -> bool:
    collection = job.params.get("collection")
    return who.is_admin or (isinstance(collection, str) and who.can("write", collection))


def _check_own_job(job_id: str, who: Caller) -> Job:
    who.require("write")
    job = job_runner().store.get(job_id)
    if not _may_see(job, who):
        raise HTTPException(403, f"Job '{job_id}' is not visible to this API key: it needs role 'write' on the "
                                 "job's collection, or 'admin'.")
    return job


@router.get("/jobs", response_model=JobList)
def list_jobs(who: CallerDep, limit: int = 50) -> dict[str, list[Job]]:
    """The most recent jobs this caller may see (``limit`` 1-500)."""
    who.require("write")
    jobs = job_runner().store.list(min(max(limit, 1), 500))
    return {"jobs": [job_view(job, who) for job in jobs if _may_see(job, who)]}


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, who: CallerDep) -> Job:
    return job_view(_check_own_job(job_id, who), who)


@router.delete("/jobs/{job_id}", response_model=Job, summary="Cancel Job")
def cancel_job(job_id: str, who: CallerDep) -> Job:
    """Cancels the job; it does not delete it. A queued job is cancelled at once, a running one at its next
    check; a finished job is returned unchanged. The job stays readable like any other (``GET`` answers 200,
    state ``cancelled``)."""
    _check_own_job(job_id, who)
    return job_view(job_runner().cancel(job_id), who)


@router.post("/evaluations", status_code=202, response_model=Job, dependencies=[Depends(require_admin)])
def start_evaluation(body: EvaluationRequest) -> Job:
    params = body.model_dump()
    EvaluationSpec.model_validate(params).check()
    return job_runner().submit("evaluate", params)
