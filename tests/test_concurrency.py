"""Many processes on one fresh mlflow.db and one fresh optuna.db: nothing lost, nothing crashes."""
import subprocess
import sys
import textwrap

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
