"""Interrupt and resume: a KILLED run keeps a checkpoint, trainer.resume=<run id> continues it, and the
result is exactly that of a run that was never interrupted."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, all_runs, interruptible
from nnexp.errors import ConfigError
from nnexp.experiment import run

TIMING = ("time/",)  # wall-clock measurements differ between any two runs


def same_numbers(a, b):
    keys = {k for k in a if not k.startswith(TIMING)}
    assert keys == {k for k in b if not k.startswith(TIMING)}
    return {k: (a[k], b[k]) for k in keys if not (a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]))}


@pytest.mark.parametrize("over", [["optim=momentum", "trainer.batch_size=50"],  # velocity and shuffling
                                  ["trainer.replacement=true", "trainer.eval_every=7", "activation=prelu"]])
def test_resumed_run_equals_the_uninterrupted_one(compose_cfg, tmp_path, over):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["trainer.epochs=4", f"tracking.uri={uri}", "tracking.log_artifacts=false", "trainer.progress=false", *over]
    whole = run(compose_cfg(*args))

    def interrupt(metrics, step):
        if metrics["progress/steps"] >= 40:
            raise KeyboardInterrupt  # what Ctrl-C raises, here at a known point
    with pytest.raises(KeyboardInterrupt) as info:
        run(compose_cfg(*args), callback=interrupt)
    saved = info.value.checkpoint
    assert 0 < saved.step < 40
    (killed,) = [r for r in all_runs(uri) if r.info.status == "KILLED"]
    assert "checkpoint at step" in killed.data.tags["nnexp.end_reason"]

    resumed = run(compose_cfg(*args, f"trainer.resume={killed.info.run_id}"))
    assert resumed["run_id"] == killed.info.run_id
    assert same_numbers(resumed["final"], whole["final"]) == {}
    assert len(resumed["history"]) == len(whole["history"])
    assert all(same_numbers(a, b) == {} for a, b in zip(resumed["history"], whole["history"]))
    assert [w.tobytes() for w in resumed["network"].W] == [w.tobytes() for w in whole["network"].W]
    final = {r.info.run_id: r for r in all_runs(uri)}[killed.info.run_id]
    assert final.info.status == "FINISHED" and final.data.tags["nnexp.resumed_at_step"] == str(saved.step)


def test_resume_refuses_another_config_and_runs_without_checkpoint(compose_cfg, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["trainer.epochs=2", f"tracking.uri={uri}", "tracking.log_artifacts=false", "trainer.progress=false"]

    def interrupt(metrics, step):
        if step >= 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run(compose_cfg(*args), callback=interrupt)
    (killed,) = all_runs(uri)
    rid = killed.info.run_id
    with pytest.raises(ConfigError, match=r"trainer.resume: run \w+ was made with optim.lr=0.1, not 0.2"):
        run(compose_cfg(*args, "optim.lr=0.2", f"trainer.resume={rid}"))
    finished = run(compose_cfg(*args))["run_id"]
    with pytest.raises(ConfigError, match="has no checkpoint .it ended FINISHED"):
        run(compose_cfg(*args, f"trainer.resume={finished}"))
    with pytest.raises(ConfigError, match="trainer.resume: no run"):
        run(compose_cfg(*args, f"trainer.resume={'0' * 31 + 'a'}"))
    with pytest.raises(ConfigError, match="32-hex-digit id"):
        run(compose_cfg(*args, "trainer.resume=latest"))
    assert not [r for r in all_runs(uri) if r.info.status == "RUNNING"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM"])  # SIGINT takes the same path (test_cli: both end the run KILLED)
def test_a_signal_saves_a_checkpoint_and_resume_matches(tmp_path, sig):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "nnexp", "trainer.batch_size=1", "trainer.epochs=60", "optim=momentum",
            "optim.lr=0.01", "tracking.log_artifacts=false", "trainer.progress=false",
            "tracking.flush_every=0"]  # every evaluation in the store at once: the test sees the progress
    assert all_runs(uri) == []  # the store exists before the child polls it
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, preexec_fn=interruptible, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120  # the run is RUNNING and past its second epoch: mid-training
        while time.time() < deadline and not [r for r in all_runs(uri) if r.info.status == "RUNNING"
                                              and r.data.metrics.get("progress/epoch", 0) >= 2]:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    (killed,) = all_runs(uri)
    assert killed.info.status == "KILLED" and "checkpoint at step" in killed.data.tags["nnexp.end_reason"], err
    assert f"trainer.resume={killed.info.run_id}" in err
    for extra in ([f"trainer.resume={killed.info.run_id}"], []):
        done = subprocess.run(args + extra, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    runs = {r.info.run_id: r for r in all_runs(uri)}
    resumed, whole = runs.pop(killed.info.run_id), runs.popitem()[1]
    assert resumed.info.status == whole.info.status == "FINISHED"
    assert same_numbers(resumed.data.metrics, whole.data.metrics) == {}
