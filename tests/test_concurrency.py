"""Many processes on one fresh mlflow.db and one fresh optuna.db: nothing lost, nothing crashes."""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, all_runs

WORKER = textwrap.dedent("""
    import sys
    from omegaconf import OmegaConf
    from nnexp.search.study import open_study
    from nnexp.tracking import Tracker

    i = int(sys.argv[1])
    t = Tracker()
    t.start("concurrent", run_name=f"job {i}", params={"i": str(i)})
    for step in range(20):
        t.log_metrics({"loss": 1.0 / (step + 1), "i": i}, step)
    t.end("FINISHED")
    s = OmegaConf.create({"storage": "sqlite:///optuna.db", "name": "shared", "heartbeat": 10,
                          "sampler": "random", "seed": i, "pruner": "none", "direction": "minimize"})
    study = open_study(s, create=True)
    trial = study.ask()
    study.tell(trial, trial.suggest_float("x", 0, 1) ** 2)
""")


def test_eight_processes_on_fresh_stores_lose_nothing(tmp_path):
    env_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import os

    env = {**os.environ, "MLFLOW_TRACKING_URI": env_uri, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err.strip().splitlines()[-1:] for _, err in outs]
    runs = [r for r in all_runs(env_uri) if r.data.tags.get("mlflow.runName", "").startswith("job ")]
    assert sorted(int(r.data.params["i"]) for r in runs) == list(range(8))
    assert all(r.info.status == "FINISHED" and r.data.metrics["loss"] == 1.0 / 20 for r in runs)
    import optuna

    trials = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'optuna.db'}").get_trials()
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)


def test_a_signal_inside_a_tracking_write_waits_for_the_write(tmp_path, sigint_raises):
    """Ctrl-C landing in the middle of a log_batch: the batch is written whole, then the interrupt
    arrives, so ending the run KILLED never waits on a half-done SQLite transaction."""
    import os
    import signal

    import pytest

    from nnexp.tracking import Tracker

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", flush_every=0)  # every log_metrics sends its batch
    t.start("signals")
    real = t.client.log_batch
    calls = []

    def log_batch_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the write is under way
        calls.append("written")
        return real(*args, **kwargs)

    t.client.log_batch = log_batch_interrupted
    with pytest.raises(KeyboardInterrupt):
        t.log_metrics({"loss": 0.5}, 1)
    t.client.log_batch = real
    assert calls == ["written"]
    run_id = t.run_id
    t.end("KILLED", "interrupted")
    run = t.client.get_run(run_id)
    assert run.data.metrics == {"loss": 0.5} and run.info.status == "KILLED"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


@pytest.mark.slow
def test_eight_nnexp_processes_training_into_one_store_and_study(tmp_path):
    """Eight `python -m nnexp +search=digits` started at once on one fresh mlflow.db and optuna.db:
    every process ends cleanly, every trial is complete with its MLflow run FINISHED and every
    evaluation's metrics in it; nothing is RUNNING."""
    import os

    import optuna

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "nnexp", "+search=digits", "search.n_trials=12", "search.pruner=none",
           "search.sampler=random", "trainer.epochs=2", "model.hidden=[16]", "tracking.log_artifacts=false",
           "tracking.flush_every=0"]  # every evaluation written at once: the most writes
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err.strip().splitlines()[-3:] for _, err in outs]
    trials = optuna.load_study(study_name="digits", storage=f"sqlite:///{tmp_path / 'optuna.db'}").get_trials()
    # each process asks for a trial while fewer than 12 are done: up to 7 more than 12 may start
    assert 12 <= len(trials) <= 12 + 7 and {t.state.name for t in trials} == {"COMPLETE"}
    runs = {r.info.run_id: r for r in all_runs(uri)}
    assert not [r for r in runs.values() if r.info.status != "FINISHED"]
    from nnexp.tracking import client

    for t in trials:
        run = runs[t.user_attrs["mlflow_run_id"]]
        assert run.data.metrics["val/acc"] == pytest.approx(t.value)
        assert [m.step for m in client(uri).get_metric_history(run.info.run_id, "val/acc")] == [0, 1, 2]
