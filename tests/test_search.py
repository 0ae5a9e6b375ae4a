"""Optuna search: the space syntax, pruning, resume, workers, faults and the MLflow record."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, all_runs, interruptible
from nnexp.errors import ConfigError
from nnexp.search import parse_space

FAST = ["search.n_trials=6", "trainer.epochs=4"]


def study_trials(path, name="digits"):
    import optuna

    from nnexp.locks import store_lock

    url = f"sqlite:///{path}"
    with store_lock(url):  # the store may be being created by the process under test
        return optuna.load_study(study_name=name, storage=url).get_trials()


def states(trials):
    return sorted(t.state.name for t in trials)


def test_space_syntax_of_hydras_optuna_sweeper():
    space = parse_space({"model.hidden": "choice([32], [64,64])", "activation": "choice(relu, tanh)",
                         "optim.lr": "tag(log, interval(0.001, 1.0))", "optim.momentum": "interval(0.0, 0.9)",
                         "trainer.epochs": "int(interval(2, 10))",
                         "model.budget": "tag(log, int(interval(1000, 100000)))", "trainer.batch_size": "range(16, 80, 16)"})
    assert space["model.hidden"] == ("categorical", ["[32]", "[64,64]"])
    assert space["activation"] == ("categorical", ["relu", "tanh"])
    assert space["optim.lr"] == ("float", (0.001, 1.0, None, True))
    assert space["optim.momentum"] == ("float", (0.0, 0.9, None, False))
    assert space["trainer.epochs"] == ("int", (2, 10, None, False))
    assert space["model.budget"] == ("int", (1000, 100000, None, True))
    assert space["trainer.batch_size"] == ("categorical", ["16", "32", "48", "64"])


@pytest.mark.parametrize("params,message", [
    ({"optim.lr": "interval(1.0, 0.5)"}, "interval(1.0, 0.5) is empty"),
    ({"optim.lr": "tag(log, interval(0.0, 1.0))"}, "not positive (log)"),
    ({"trainer.batch_size": "range(64, 16, 16)"}, "holds no value"),
    ({"optim.lr": "0.1"}, "a single value, not a search space"),
    ({"optim.lr": "interval(0.1"}, "cannot parse"),
    ({}, "the search space is empty"),
])
def test_bad_search_spaces_are_one_line(params, message):
    with pytest.raises(ConfigError, match="search.params") as err:
        parse_space(params)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_workers_and_resumes_draw_new_trials_and_one_worker_is_reproducible(tmp_path, sampler):
    """Every worker builds its sampler from the same search.seed: the draws must still differ
    between workers and after a resume, and a one-worker study must repeat itself exactly."""
    import optuna

    from nnexp.search import SAMPLERS

    def trials(url, samplers, n=12):
        """The params of n trials asked in turn by `samplers` workers sharing one study."""
        studies = [optuna.create_study(study_name="s", storage=url, sampler=SAMPLERS[sampler](0),
                                       load_if_exists=True) for _ in range(samplers)]
        for i in range(n):
            study = studies[i % samplers]
            trial = study.ask()
            study.tell(trial, trial.suggest_float("x", 0.0, 1.0) + len(trial.suggest_categorical("c", ["a", "bb"])))
        return [tuple(sorted(t.params.items())) for t in studies[0].get_trials()]

    alone = trials(f"sqlite:///{tmp_path / 'a.db'}", 1)
    assert trials(f"sqlite:///{tmp_path / 'b.db'}", 1) == alone  # reproducible
    two = trials(f"sqlite:///{tmp_path / 'c.db'}", 2)
    assert len(set(two)) == len(two) == 12  # two workers never ran the same trial
    resumed = f"sqlite:///{tmp_path / 'd.db'}"
    first, then = trials(resumed, 1, n=4), trials(resumed, 1, n=4)  # a second process resumes the study
    assert then[:4] == first and len(set(then)) == 8 and then == alone[:8]


def test_search_records_trials_resumes_and_adds_none(cli, tmp_path):
    proc = cli("+search=digits", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "best val/acc" in proc.stdout and "optuna-dashboard sqlite:///optuna.db --host 127.0.0.1" in proc.stdout
    trials = study_trials(tmp_path / "optuna.db")
    assert len(trials) == 6 and set(states(trials)) <= {"COMPLETE", "PRUNED"}
    assert "PRUNED" in states(trials)  # the median pruner really stopped a trial early
    runs = all_runs(cli.uri)
    parent = [r for r in runs if r.data.tags.get("nnexp.kind") == "search"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == list(range(6))
    assert {r.info.status for r in children} <= {"FINISHED", "KILLED"}  # KILLED = pruned
    from mlflow.tracking import MlflowClient

    artifacts = {a.path for a in MlflowClient(cli.uri).list_artifacts(parent[0].info.run_id)}
    assert {"best_digits.yaml", "optimization_history.png"} <= artifacts
    finished = next(r for r in children if r.info.status == "FINISHED")
    assert {a.path for a in MlflowClient(cli.uri).list_artifacts(finished.info.run_id)} == {"config.yaml", "weights.npz"}
    # the same command again resumes: nothing is added
    proc = cli("+search=digits", *FAST)
    assert proc.returncode == 0 and "(0 run now" in proc.stdout
    assert len(study_trials(tmp_path / "optuna.db")) == 6
    assert len([r for r in all_runs(cli.uri) if r.data.tags.get("nnexp.kind") == "search"]) == 1  # same parent
    # a larger budget continues the study up to it: exactly 2 more
    assert cli("+search=digits", "search.n_trials=8", "trainer.epochs=4").returncode == 0
    assert len(study_trials(tmp_path / "optuna.db")) == 8
    # the best config reruns the best trial
    best = next(tmp_path.glob("outputs/*/*/best_digits.yaml"))
    proc = cli("--config-path", str(best.parent), "--config-name", "best_digits", "tracking.enabled=false")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_parallel_workers_share_one_study(cli, tmp_path):
    proc = cli("+search=digits", "search.n_trials=6", "search.workers=2", "trainer.epochs=2")
    assert proc.returncode == 0, proc.stderr
    trials = study_trials(tmp_path / "optuna.db")
    assert 6 <= len(trials) <= 7  # each worker checks the count before asking: at most workers - 1 over
    assert "RUNNING" not in states(trials)
    runs = all_runs(cli.uri)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    numbers = [int(r.data.tags["optuna.trial"]) for r in runs if "optuna.trial" in r.data.tags]
    assert sorted(numbers) == sorted({t.number for t in trials})  # distinct trials, none run twice


@pytest.mark.parametrize("batch", [1, 4])
def test_pruned_and_failed_trials_are_recorded_and_the_study_goes_on(compose_cfg, tmp_path, monkeypatch, batch):
    """A pruner that always prunes, then a space where one value diverges: PRUNED and FAIL trials,
    their MLflow runs KILLED / FAILED with the reason, the study completes. With search.batch=4 the
    four trials train as one population, each pruned or failed on its own."""
    import optuna
    from omegaconf import open_dict

    from nnexp import search

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)

    class AlwaysPrune(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return len(trial.intermediate_values) >= 3

    overrides = ["+search=digits", "trainer.epochs=3", "loss=mse", "model.output=linear"]
    cfg = compose_cfg(*overrides)
    with open_dict(cfg):
        cfg.search.params = {"optim.lr": "choice(0.05, 1e9)"}
        cfg.search.n_trials = 4
        cfg.search.batch = batch
        cfg.search.storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setitem(search.PRUNERS, "median", AlwaysPrune)
    search.run_search(cfg, overrides, tmp_path / "out")
    trials = study_trials(tmp_path / "optuna.db")
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(trials) == 4 and pruned and failed and len(pruned) + len(failed) == 4
    assert all("diverged" in t.user_attrs["fail_reason"] for t in failed)
    runs = all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    kids = {int(r.data.tags["optuna.trial"]): r for r in runs if "optuna.trial" in r.data.tags}
    for t in pruned:
        assert kids[t.number].info.status == "KILLED" and "pruned" in kids[t.number].data.tags["nnexp.end_reason"]
    for t in failed:
        assert kids[t.number].info.status == "FAILED"
    assert {r.data.tags.get("nnexp.population") for r in kids.values()} == ({None} if batch == 1 else {"4"})


def _popen_search(tmp_path, *args):
    """The search in its own process group, as a terminal starts a command (Ctrl-C: the whole group)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nnexp", "+search=digits", *args], cwd=tmp_path, env=env,
                            preexec_fn=interruptible, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_running_trial(tmp_path, proc, timeout=120, n=1):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (tmp_path / "optuna.db").exists():
            try:
                if states(study_trials(tmp_path / "optuna.db")).count("RUNNING") >= n:
                    return True
            except Exception:
                pass  # the study is being created
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_killed_worker_trial_is_detected_stale_and_retried(tmp_path):
    slow = ["search.n_trials=2", "search.heartbeat=1", "trainer.batch_size=1", "trainer.epochs=500"]
    proc = _popen_search(tmp_path, *slow)
    try:
        assert _wait_for_running_trial(tmp_path, proc)
        time.sleep(2)  # the trial's MLflow run exists and heartbeats have been written
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    time.sleep(4)  # longer than the grace period (3 heartbeats)
    rerun = _popen_search(tmp_path, "search.n_trials=2", "search.heartbeat=1", "trainer.epochs=1")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    trials = study_trials(tmp_path / "optuna.db")
    assert "RUNNING" not in states(trials)
    stale = [t for t in trials if t.state.name == "FAIL"]
    assert len(stale) == 1  # the killed one, failed by its missing heartbeat ...
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == stale[0].number]
    assert len(retried) == 1 and retried[0].state.name in ("COMPLETE", "PRUNED")  # ... and run again
    assert retried[0].params == stale[0].params
    assert not [r for r in all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}") if r.info.status == "RUNNING"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_with_nothing_running(tmp_path, workers):
    proc = _popen_search(tmp_path, "search.n_trials=3", f"search.workers={workers}", "trainer.batch_size=1",
                         "trainer.epochs=500")
    try:
        assert _wait_for_running_trial(tmp_path, proc, n=workers)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: every process of the command
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "RUNNING" not in states(study_trials(tmp_path / "optuna.db"))
    runs = all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    assert [r.info.status for r in runs if r.data.tags.get("nnexp.kind") == "search"] == ["KILLED"]


@pytest.mark.slow
def test_three_workers_on_a_real_postgresql_server(cli, postgres_url):
    proc = cli("+search=digits", f"search.storage={postgres_url}", "search.workers=3", "search.n_trials=6",
               "search.pruner=none", "trainer.epochs=2", timeout=600)
    assert proc.returncode == 0, proc.stderr
    import optuna

    trials = optuna.load_study(study_name="digits", storage=postgres_url).get_trials()
    assert 6 <= len(trials) <= 8 and set(states(trials)) == {"COMPLETE"}


@pytest.mark.slow
def test_optuna_dashboard_serves_the_study(cli, tmp_path):
    import json
    import socket
    import urllib.request
    from pathlib import Path

    assert cli("+search=digits", "search.n_trials=2", "trainer.epochs=1").returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen([str(exe), f"sqlite:///{tmp_path / 'optuna.db'}", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, body = time.time() + 60, None
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "optuna-dashboard did not answer"
        assert [s["study_name"] for s in body["study_summaries"]] == ["digits"]
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
