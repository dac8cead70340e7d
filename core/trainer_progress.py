"""Glue shared by the trainings that run on a Hugging Face ``Trainer`` (sentence-transformers' encoder and
cross-encoder trainers): each step's progress and last logged loss reported to a job instead of stdout, and a run
that resumes from the last checkpoint in its folder."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[int, int, float], None]


def train_reporting(trainer: Any, checkpoints: Path, progress: Progress | None) -> bool:
    """Run ``trainer`` (resuming from a checkpoint in ``checkpoints`` if there is one), reporting ``progress(step,
    steps, last loss)`` after each step; whether it resumed."""
    from transformers import PrinterCallback, TrainerCallback

    class ReportProgress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress is not None:
                logged = [entry["loss"] for entry in state.log_history if "loss" in entry]
                progress(state.global_step, state.max_steps, float(logged[-1]) if logged else math.nan)

    trainer.add_callback(ReportProgress())
    trainer.remove_callback(PrinterCallback)  # progress reaches the job instead of stdout
    resume = any(checkpoints.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    return resume


def loss_curve(trainer: Any) -> list[list[float]]:
    """[step, loss] of every logged step."""
    return [[entry["step"], round(entry["loss"], 4)] for entry in trainer.state.log_history if "loss" in entry]
