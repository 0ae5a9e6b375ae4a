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
