"""Checkpoints: the complete training state at an evaluation, to resume an interrupted run exactly.

What is saved: every parameter, the optimiser's velocity, the shuffling RNG's state, the step, the
position in the epoch and the epoch's permutation, the metrics history and the best validation
accuracy so far. Arrays go to `checkpoint.npz` (read back with allow_pickle=False), the rest to
`checkpoint.json`. The trainer snapshots this state after every evaluation (a copy of the weights:
small next to an evaluation), so an interrupt that lands mid-step never saves a half-updated net.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NnexpError

FILES = ("checkpoint.npz", "checkpoint.json")


@dataclass
class Checkpoint:
    step: int
    pos: int
    rng_state: dict
    params: dict  # name -> array
    velocity: list | None = None  # aligned with params, or None without momentum
    perm: np.ndarray | None = None  # this epoch's order of the training rows (None: unshuffled)
    history: list = field(default_factory=list)
    best: dict = field(default_factory=dict)
    train_time: float = 0.0

    def writers(self):
        """{file name: writer(path)}, for Tracker.log_artifacts."""
        return {"checkpoint.npz": self._write_arrays, "checkpoint.json": self._write_state}

    def _write_arrays(self, path):
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        if self.velocity is not None:
            arrays.update({f"velocity/{i}": v for i, v in enumerate(self.velocity)})
        if self.perm is not None:
            arrays["perm"] = self.perm
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def _write_state(self, path):
        state = {"step": self.step, "pos": self.pos, "rng_state": self.rng_state, "history": self.history,
                 "best": self.best, "train_time": self.train_time, "params": list(self.params),
                 "n_velocity": None if self.velocity is None else len(self.velocity)}
        Path(path).write_text(json.dumps(state))

    @classmethod
    def load(cls, directory):
        directory = Path(directory)
        try:
            state = json.loads((directory / "checkpoint.json").read_text())
            with np.load(directory / "checkpoint.npz", allow_pickle=False) as z:
                params = {k: z[f"param/{k}"] for k in state["params"]}
                velocity = None if state["n_velocity"] is None else [z[f"velocity/{i}"]
                                                                      for i in range(state["n_velocity"])]
                perm = z["perm"] if "perm" in z.files else None
        except (OSError, KeyError, ValueError) as e:
            raise NnexpError(f"the checkpoint in {directory} cannot be read ({type(e).__name__}: {e})") from e
        return cls(step=state["step"], pos=state["pos"], rng_state=state["rng_state"], params=params,
                   velocity=velocity, perm=perm, history=state["history"], best=state["best"],
                   train_time=state["train_time"])
