"""experiments/reproduce.py: the one command that regenerates results/."""
from __future__ import annotations

import pytest

from conftest import load_script

from conftest import ROOT


def test_every_study_names_existing_presets_and_scripts():
    studies = load_script("reproduce").STUDIES
    for study, (steps, script) in studies.items():
        assert (ROOT / "experiments" / script).is_file(), script
        for step in steps:
            path = ROOT / ("experiments/" + step if step.endswith(".py") else f"conf/experiment/{step}.yaml")
            assert path.is_file(), f"{study}: {path}"


def test_unknown_study_is_one_clear_line(capsys):
    assert load_script("reproduce").main(["nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown study 'nope'; available: width_sweep" in err[0]


def _reproduce(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(ROOT / "experiments" / "reproduce.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_a_store_that_does_not_exist_is_one_line_and_is_not_created(tmp_path):
    db = tmp_path / "nothing.db"
    proc = _reproduce("--tracking-uri", f"sqlite:///{db}", cwd=tmp_path)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1, proc.stderr
    assert err[0].startswith(f"reproduce: no MLflow store at {db}") and "--rerun" in err[0]
    assert not db.exists() and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_studies_without_runs_each_name_the_command_that_makes_them(tmp_path):
    """An empty store: every study is tried, one line each names its presets' command, exit 1."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # an existing store with no runs
    results = tmp_path / "results"
    proc = _reproduce("--tracking-uri", uri, "--results", str(results), cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    studies = load_script("reproduce").STUDIES
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == len(studies) + 1, proc.stderr  # one per study and the tally
    for line, (study, (steps, _)) in zip(lines, studies.items()):
        assert line.startswith(f"reproduce: {study}: no ") and f"in {uri}" in line, line
        assert f"python -m nnexp +experiment={steps[0] if not steps[0].endswith('.py') else steps[1]}" in line, line
    assert lines[-1].startswith(f"reproduce: 0 of {len(studies)} studies redrawn; runs missing: width_sweep")
    assert "note:" not in proc.stdout  # no half-reports: a study with nothing recorded says so once
    assert not results.exists() or not any(results.rglob("*.png"))  # nothing drawn from no runs
