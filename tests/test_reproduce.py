"""experiments/reproduce.py: the one command that regenerates results/."""
from __future__ import annotations

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
