"""What a tuning job is asked to do (``siftrag tune``, ``POST /v1/collections/{name}:tune``), validated before it
is queued."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import InvalidInputError
from indexes.encoder_training import EncoderTraining
from rag.tuning.query_generation import check_examples
from rag.tuning.round_trip import ROUND_TRIP_DEPTH

MIN_PASSAGES = 20


class TuneSpec(BaseModel):
    """Options of one tuning run of a collection's dense encoder (the ``embedding`` reranker's model)."""

    model_config = ConfigDict(extra="forbid")

    passages: int = Field(1000, ge=MIN_PASSAGES, le=100_000, description="passages sampled to write queries for")
    examples: list[str] = Field(default_factory=list, max_length=8,
                                description="2-8 example queries of the collection (few-shot prompt); none: generic")
    heldout_share: float = Field(0.2, ge=0.05, le=0.5, description="share of source passages kept out of training "
                                 "for the check that decides the publish")
    round_trip_depth: int = Field(ROUND_TRIP_DEPTH, ge=1, le=1000,
                                  description="keep a query when BM25 finds its passage in this many results")
    force: bool = Field(False, description="publish even when the held-out check finds the tuned model worse (the "
                        "check is still run and recorded)")
    seed: int = 13
    training: EncoderTraining = Field(default_factory=EncoderTraining)

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: list[str]) -> list[str]:
        try:
            return check_examples(value)
        except InvalidInputError as error:  # pydantic reports a ValueError as this field's error (API 422)
            raise ValueError(str(error)) from None
