"""The tracker: buffered metrics, the run created in the background, errors that still surface."""
import pytest

from nnexp.errors import NnexpError
from nnexp.tracking import Tracker


def test_buffered_metrics_all_arrive_in_few_batches(tmp_path):
    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", flush_every=3600)
    t.start("buffer", background=True)
    sent = []
    real = t.client.log_batch

    def spy(run_id, metrics=(), **kwargs):
        sent.append(len(metrics))
        return real(run_id, metrics=metrics, **kwargs)

    t.client.log_batch = spy
    try:
        for step in range(300):  # 300 evaluations x 4 metrics
            t.log_metrics({"a": step, "b": -step, "c": 0.5, "d": step / 7}, step)
        assert sum(sent) == 0  # nothing sent before flush_every has passed
        run_id = t.run_id or (t.ready(wait=True) and t.run_id)
        t.end("FINISHED")
    finally:
        t.client.log_batch = real
    assert [n for n in sent if n] == [1000, 200]  # all 1,200 at the end, at most 1,000 per call
    history = t.client.get_metric_history(run_id, "d")
    assert [m.step for m in history] == list(range(300)) and history[-1].value == pytest.approx(299 / 7)
    assert t.client.get_run(run_id).info.status == "FINISHED"


def test_a_store_that_cannot_be_opened_surfaces_from_a_background_start(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    t = Tracker(f"sqlite:///{blocked / 'mlflow.db'}")  # a database inside a regular file
    t.start("nowhere", background=True)
    with pytest.raises(NnexpError, match="cannot use the MLflow store"):  # from the first call after the failure
        t.log_metrics({"a": 1.0}, 0)
        t.ready(wait=True)
    t.end("FAILED", "the store")  # nothing to end: no run was created, and no second error
    assert t.run_id is None


def test_a_run_created_in_the_background_starts_when_start_was_called(tmp_path, monkeypatch):
    """A sweep's parent is created in the background while its jobs run: its start time (and so its
    duration in the MLflow UI) is when start() was called, not when the slow store answered."""
    import time

    import nnexp.tracking.run as run_module

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri).client  # the store exists
    slow = run_module.experiment_id

    def after_a_second(*args, **kwargs):
        time.sleep(1.0)
        return slow(*args, **kwargs)

    monkeypatch.setattr(run_module, "experiment_id", after_a_second)
    t = Tracker(uri)
    called = int(time.time() * 1000)
    t.start("late", background=True)
    run_id = t.created()
    t.end("FINISHED")
    started = t.client.get_run(run_id).info.start_time
    assert called <= started < called + 500  # not a second later
