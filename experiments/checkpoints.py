"""Checkpoint file names of a run folder: one naming rule for both kinds of trainer.

A checkpoint file is named ``<prefix><count><suffix>``, the count being env steps for SB3 agents
(``model_<steps>_steps.zip``, with ``model_vecnormalize_<steps>_steps.pkl`` and, for SAC and TD3,
``model_replay_buffer_<steps>_steps.pkl`` beside it: stable-baselines3's own names) and iterations for the
gradient agent (``gradient_<iteration>.pt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from experiments.runs import RunError

CHECKPOINT_PREFIX = "model"


@dataclass(frozen=True)
class NumberedName:
    """File names ``<prefix><count><suffix>``."""

    prefix: str
    suffix: str

    def name(self, count: int | str) -> str:
        return f"{self.prefix}{count}{self.suffix}"

    def count(self, path: Path) -> int | None:
        """The count in ``path``'s name, or None when the name does not follow the rule."""
        match = re.fullmatch(rf"{re.escape(self.prefix)}(\d+){re.escape(self.suffix)}", Path(path).name)
        return int(match.group(1)) if match else None

    def found(self, folder: Path) -> list[tuple[int, Path]]:
        """(count, path) of the files of ``folder`` that follow the rule, by increasing count."""
        if not folder.is_dir():
            return []
        return sorted((count, path) for path in folder.iterdir() if (count := self.count(path)) is not None)


SB3_MODEL = NumberedName(f"{CHECKPOINT_PREFIX}_", "_steps.zip")
SB3_VECNORMALIZE = NumberedName(f"{CHECKPOINT_PREFIX}_vecnormalize_", "_steps.pkl")
SB3_REPLAY_BUFFER = NumberedName(f"{CHECKPOINT_PREFIX}_replay_buffer_", "_steps.pkl")
GRADIENT = NumberedName("gradient_", ".pt")


@dataclass(frozen=True)
class Checkpoint:
    """The files of one SB3 checkpoint at ``steps`` env steps."""

    steps: int
    model: Path
    vecnormalize: Path
    replay_buffer: Path

    @classmethod
    def at(cls, folder: Path, steps: int) -> Checkpoint:
        return cls(steps, folder / SB3_MODEL.name(steps), folder / SB3_VECNORMALIZE.name(steps),
                   folder / SB3_REPLAY_BUFFER.name(steps))

    @classmethod
    def from_model_path(cls, path: Path) -> Checkpoint:
        steps = SB3_MODEL.count(path)
        if steps is None:
            raise RunError(f"{path} is not a checkpoint (expected {SB3_MODEL.name('<steps>')})")
        return cls.at(Path(path).parent, steps)


def sb3_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete SB3 checkpoints in ``folder`` (model and normalization statistics present), oldest first."""
    found = (Checkpoint.at(folder, steps) for steps, _ in SB3_MODEL.found(folder))
    return [checkpoint for checkpoint in found if checkpoint.vecnormalize.exists()]


def latest_sb3_checkpoint(folder: Path) -> Checkpoint | None:
    found = sb3_checkpoints(folder)
    return found[-1] if found else None


def gradient_checkpoint(folder: Path, iteration: int) -> Path:
    return folder / GRADIENT.name(iteration)


def latest_gradient_checkpoint(folder: Path) -> Path | None:
    found = GRADIENT.found(folder)
    return found[-1][1] if found else None
