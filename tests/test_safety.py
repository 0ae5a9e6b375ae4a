"""Safety: no pickles, no unsafe YAML, servers bound to 127.0.0.1, file names from config values sanitised."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import ROOT

SOURCES = sorted([*(ROOT / "nnexp").rglob("*.py"), *(ROOT / "experiments").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_and_no_unsafe_yaml_in_the_sources(path):
    text = path.read_text()
    assert not re.search(r"\bimport pickle\b|\bpickle\.load|yaml\.(unsafe_)?load\(|yaml\.Loader|allow_pickle=True", text)
    for call in re.findall(r"np\.load\([^\n]*", text):  # every np.load says allow_pickle=False
        assert "allow_pickle=False" in call, call


def test_saved_weights_and_checkpoints_refuse_pickled_objects(tmp_path):
    from nnexp.checkpoint import Checkpoint
    from nnexp.errors import NnexpError

    path = tmp_path / "checkpoint.npz"
    np.savez(path, **{"param/W1": np.array([{"evil": 1}], dtype=object)})  # an object array is a pickle
    (tmp_path / "checkpoint.json").write_text('{"step": 1, "pos": 0, "rng_state": {}, "history": [], "best": {}, '
                                              '"train_time": 0, "params": ["W1"], "n_velocity": null}')
    with pytest.raises(NnexpError, match="cannot be read"):
        Checkpoint.load(tmp_path)


def test_printed_server_commands_bind_to_localhost():
    found = 0
    for path in (ROOT / "nnexp" / "tracking" / "sweep.py", ROOT / "nnexp" / "search" / "__init__.py"):
        text = re.sub(r'"\s*\n\s*f?"', "", path.read_text())  # join implicitly concatenated strings
        for line in re.findall(r"(?:mlflow ui|optuna-dashboard) [^\n]*", text):
            found += 1
            assert "--host 127.0.0.1" in line, line
    assert found == 2  # tracking.ui_hint (runs, sweeps, searches) and the search's optuna-dashboard line


@pytest.mark.parametrize("name,expected", [("digits", "digits"), ("../../etc/passwd", "______etc_passwd"),
                                           ("a b/c", "a_b_c"), ("", "study"), ("x" * 200, "x" * 80)])
def test_study_names_become_safe_file_names(name, expected):
    from nnexp.search import _safe

    assert _safe(name) == expected and "/" not in _safe(name)
