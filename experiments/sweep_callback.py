"""The Ray Tune callback of a sweep: every trial as it stands when the experiment ends, in ``SWEEP/trials.json``.

Tune pickles its callbacks with the experiment and restores them with it, so the callback itself writes the file
(it is the unpickled object that sees a resumed sweep end). This module imports Ray: the sweep imports it only
once Ray has been started (:mod:`experiments.ray_cluster`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray import tune

from experiments.files import write_atomic
from experiments.sweep_report import TRIALS_FILE, TrialRecord


class TrialRecorder(tune.Callback):
    """Writes ``root/trials.json``: id, config, Tune status, failed attempts, error and seconds of every trial."""

    def __init__(self, root: str) -> None:
        self.root = root

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        records = [TrialRecord.of(trial).as_dict() for trial in trials]
        write_atomic(Path(self.root) / TRIALS_FILE, json.dumps(records, indent=2, default=str) + "\n")
