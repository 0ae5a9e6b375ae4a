"""One MLflow run, written through MlflowClient: the Tracker (batched metrics, background start,
retried and signal-guarded writes, one way to end a run with its status and reason) and the
NullTracker of tracking.enabled=false.
"""
from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import nnexp
from ..errors import RunStopped
from ..locks import uninterrupted
from .store import client, experiment_id, git_commit, resolve_uri, write

REASON_TAG = "nnexp.end_reason"
INTERRUPTED = "interrupted (SIGINT/SIGTERM)"


def end_status(e: BaseException) -> tuple[str, str]:
    """How a run ends when exception `e` stops it: (MLflow status, one reason line). An interrupt is
    KILLED, a RunStopped (e.g. a pruned trial) says its own status, anything else is FAILED."""
    if isinstance(e, KeyboardInterrupt):
        return "KILLED", INTERRUPTED
    if isinstance(e, RunStopped):
        return e.status, e.reason
    return "FAILED", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


class Tracker:
    """One MLflow run, driven through MlflowClient (no global active-run state).

    Metrics are buffered and sent with one log_batch when `flush_every` seconds have passed since
    the last one, and at the end: a log_batch on SQLite costs ~10 ms, as much as an epoch of a
    small network. With `start(background=True)` the run is created in a thread (importing
    mlflow and opening the store take ~2 s) while training starts; metrics wait in the buffer.
    """

    def __init__(self, uri=None, flush_every=5.0):
        self.uri = resolve_uri(uri)
        self.flush_every = float(flush_every)
        self.run_id = None
        self.experiment_id = None
        self._pending = []  # (key, value, timestamp ms, step) not yet sent
        self._last_flush = time.monotonic()
        self._opening = None  # the thread creating the run, with start(background=True)
        self._error = None  # what that thread raised
        self._started = None  # when start() was called (ms): the run's start, also when created later

    @property
    def client(self):
        return client(self.uri)  # one store per process: sweep jobs in a worker reuse it

    @uninterrupted
    def start(self, experiment, run_name=None, params=None, tags=None, parent_run_id=None, background=False):
        """Create the run; its id (None with background=True: see ready())."""
        args = (experiment, run_name, params, tags, parent_run_id)
        self._started = int(time.time() * 1000)
        if not background:
            self._create(*args)
            return self.run_id
        self._opening = threading.Thread(target=self._create_in_thread, args=args, name="nnexp-tracking", daemon=True)
        self._opening.start()
        return None

    @uninterrupted
    def reopen(self, run_id, tags=None):
        """Continue an existing run (trainer.resume): RUNNING again, new metrics appended."""
        write(self.client.update_run, run_id, status="RUNNING")
        self.run_id = run_id
        if tags:
            self.set_tags(tags)

    def _create_in_thread(self, *args):
        try:
            self._create(*args)
        except BaseException as e:  # handed to the main thread by ready()
            self._error = e

    def _create(self, experiment, run_name, params, tags, parent_run_id):
        """parent_run_id may be a function giving it (a sweep parent still being created)."""
        if callable(parent_run_id):
            parent_run_id = parent_run_id()
        self.client  # imports mlflow under the client lock: never two threads importing it at once
        from mlflow.entities import Param

        tags = {"nnexp.version": nnexp.__version__, **(tags or {})}
        commit = git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        from mlflow.exceptions import MlflowException

        tags = {k: str(v) for k, v in tags.items()}
        self.experiment_id = experiment_id(self.uri, experiment)
        try:
            run = write(self.client.create_run, self.experiment_id, start_time=self._started, run_name=run_name,
                        tags=tags)
        except MlflowException:  # the remembered experiment was deleted meanwhile: look it up again
            self.experiment_id = experiment_id(self.uri, experiment, refresh=True)
            run = write(self.client.create_run, self.experiment_id, start_time=self._started, run_name=run_name,
                        tags=tags)
        self.run_id = run.info.run_id
        items = [Param(k, v[:6000]) for k, v in (params or {}).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            write(self.client.log_batch, self.run_id, params=items[i:i + 100])

    def ready(self, wait=False):
        """True once the run exists (waiting for a background start if `wait`); raises what the
        background start raised, e.g. an unreachable store, once."""
        if self._opening is not None:
            if wait:
                self._opening.join()
            if self._opening.is_alive():
                return False
            self._opening = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self.run_id is not None

    def created(self):
        """The run's id once its creation has ended, waiting for a background start; from any thread,
        and without taking the error of a failed start (None then; ready() raises it)."""
        opening = self._opening
        if opening is not None:
            opening.join()
        return self.run_id

    @uninterrupted
    def log_metrics(self, metrics, step):
        """Buffer the metrics of one evaluation; send the buffer if flush_every has passed."""
        ts = int(time.time() * 1000)
        self._pending += [(k, float(v), ts, int(step)) for k, v in metrics.items()]
        if self.ready() and (time.monotonic() - self._last_flush >= self.flush_every or len(self._pending) >= 5000):
            self.flush()

    @uninterrupted
    def flush(self, tags=None):
        """Send every buffered metric, and `tags` with the last of them (log_batch takes at most 1000
        metrics per call): one call for a short run's whole history."""
        from mlflow.entities import Metric, RunTag

        if not self.ready(wait=True):
            return
        metrics, self._pending = [Metric(*m) for m in self._pending], []
        tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        for i in range(0, max(len(metrics), 1 if tags else 0), 1000):
            last = i + 1000 >= len(metrics)
            write(self.client.log_batch, self.run_id, metrics=metrics[i:i + 1000], tags=tags if last else [])
        self._last_flush = time.monotonic()

    @uninterrupted
    def set_tags(self, tags):
        from mlflow.entities import RunTag

        if self.ready(wait=True):
            write(self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @uninterrupted
    def log_artifacts(self, files):
        """files: {artifact name: writer(path)}; written to a temp dir, then uploaded."""
        if not self.ready(wait=True):
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, writer in files.items():
                writer(Path(tmp) / name)
            self.client.log_artifacts(self.run_id, tmp)  # one call for all of them

    @uninterrupted
    def close_other(self, run_id, status, reason):
        """End another run of this store (e.g. a dead worker's trial) with its status and reason,
        through the same retried, signal-guarded writes as this tracker's own run."""
        from mlflow.entities import RunTag

        write(self.client.log_batch, run_id, tags=[RunTag(REASON_TAG, reason)])
        write(self.client.set_terminated, run_id, status)

    @uninterrupted
    def end(self, status="FINISHED", reason=None):
        """Flush the buffer and terminate the run with its status (and the reason as a tag)."""
        if not self.ready(wait=True):  # raises (once) what a background start raised
            return
        self.flush({REASON_TAG: reason} if reason else None)  # the last metrics and the reason: one call
        write(self.client.set_terminated, self.run_id, status)
        self.run_id = None

    def fail(self, e: BaseException, detail: str = ""):
        """End the run as exception `e` says (end_status), `detail` appended to the reason."""
        status, reason = end_status(e)
        self.end(status, reason + detail)


class NullTracker(Tracker):
    """tracking.enabled=false: same interface, records nothing."""

    def __init__(self, uri=None, flush_every=None):
        self.uri, self.run_id, self.experiment_id = None, None, None

    def start(self, *args, **kwargs):
        return None

    def reopen(self, run_id, tags=None):
        pass

    def ready(self, wait=False):
        return True

    def flush(self, tags=None):
        pass

    def log_metrics(self, metrics, step):
        pass

    def set_tags(self, tags):
        pass

    def log_artifacts(self, files):
        pass

    def end(self, status="FINISHED", reason=None):
        pass


def make_tracker(cfg) -> Tracker:
    return Tracker(cfg.get("uri"), cfg.get("flush_every", 5.0)) if cfg.get("enabled", True) else NullTracker()
