"""Jobs (read, list, cancel) and batch evaluations."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require_admin, require_query_access
from api.schemas import EvaluationRequest, JobList
from evals.engine import EvaluationSpec
from workers.job_model import Job
from workers.runner import job_runner

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.get("/jobs", response_model=JobList, dependencies=[Depends(require_query_access)])
def list_jobs(limit: int = 50) -> dict[str, list[Job]]:
    return {"jobs": job_runner().store.list(min(max(limit, 1), 500))}


@router.get("/jobs/{job_id}", response_model=Job, dependencies=[Depends(require_query_access)])
def get_job(job_id: str) -> Job:
    return job_runner().store.get(job_id)


@router.delete("/jobs/{job_id}", response_model=Job, dependencies=[Depends(require_admin)])
def cancel_job(job_id: str) -> Job:
    return job_runner().cancel(job_id)


@router.post("/evaluations", status_code=202, response_model=Job, dependencies=[Depends(require_admin)])
def start_evaluation(body: EvaluationRequest) -> Job:
    params = body.model_dump()
    EvaluationSpec.model_validate(params).check()
    return job_runner().submit("evaluate", params)
