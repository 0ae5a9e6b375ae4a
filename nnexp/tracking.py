"""MLflow tracking: the only module that imports mlflow (lazily, on first use).

One run per training job, in MLflow's default store `sqlite:///mlflow.db` in the working
directory (so `mlflow ui` started there shows it) unless `tracking.uri` or
MLFLOW_TRACKING_URI says otherwise. A Hydra sweep gets a parent run (`SweepParentRun`
callback) with every job nested under it. Metrics go in one `log_batch` per evaluation,
never one call per value. Every run ends FINISHED, FAILED or KILLED, with a reason tag.
"""
from __future__ import annotations

import functools
import logging
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from hydra.experimental.callback import Callback

import nnexp
from .errors import NnexpError
from .locks import store_lock, uninterrupted

DEFAULT_URI = "sqlite:///mlflow.db"
PARENT_ENV = "NNEXP_MLFLOW_PARENT_RUN_ID"
SWEPT_ENV = "NNEXP_SWEPT_KEYS"  # the keys a multirun sweeps, for its jobs' run names (set by SweepParentRun)
# MLflow 3's UI opens an experiment on its GenAI traces page unless the experiment says it holds models
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
REASON_TAG = "nnexp.end_reason"
_open_parents: list["Tracker"] = []  # sweep parent runs started in this process
_clients: dict = {}  # tracking URI -> MlflowClient: opening a SQLite store costs about a second
_experiment_ids: dict = {}  # (tracking URI, experiment name) -> id: looked up once per process
_client_lock = threading.RLock()


def _quiet():
    """MLflow's INFO lines (database migrations) are noise in a training log; mlflow sets them on import."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def resolve_uri(uri=None) -> str:
    """tracking.uri, else MLFLOW_TRACKING_URI, else MLflow's default sqlite:///mlflow.db."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def client(uri=None):
    """The process's MlflowClient for a tracking URI. The store is opened (created and migrated
    if new) at once, under a file lock for SQLite, so that many processes starting together on a
    fresh mlflow.db do not race each other's table creation."""
    uri = resolve_uri(uri)
    with _client_lock:  # one thread imports mlflow and opens the store; the others wait for it
        return _clients[uri] if uri in _clients else _open_client(uri)


def _open_client(uri):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _quiet()
    try:
        with store_lock(uri):
            c = MlflowClient(tracking_uri=uri)
            c.search_experiments(max_results=1)
    except MlflowException as e:
        raise NnexpError(f"tracking.uri={uri}: cannot use the MLflow store ({str(e).splitlines()[0]})") from e
    except Exception as e:  # a path that is a file, a read-only directory, a driver that is missing
        raise NnexpError(f"tracking.uri={uri}: cannot use the MLflow store "
                         f"({type(e).__name__}: {(str(e).splitlines() or [''])[0]})") from e
    _clients[uri] = c
    return c


SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def check_uri(uri=None) -> None:
    """Cheap checks of a tracking URI before anything runs (raises NnexpError): a known scheme; for
    SQLite, a database file whose directory exists and is writable; for a server, that it answers
    a TCP connection (MLflow's own client would retry for minutes)."""
    import socket
    from urllib.parse import urlparse

    from .locks import sqlite_file

    uri = resolve_uri(uri)
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme and len(scheme) > 1 and scheme not in SCHEMES:  # (a one-letter scheme is a Windows drive)
        raise NnexpError(f"tracking.uri={uri}: unsupported scheme '{scheme}'; allowed: {', '.join(SCHEMES)}")
    path = sqlite_file(uri)
    if path is not None:
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise NnexpError(f"tracking.uri={uri}: cannot use the MLflow store (directory {parent} does not exist)")
        if not os.access(parent, os.W_OK) or (Path(path).exists() and not os.access(path, os.W_OK)):
            raise NnexpError(f"tracking.uri={uri}: cannot use the MLflow store ({path} is not writable)")
    elif scheme in ("http", "https"):
        url = urlparse(uri)
        try:
            socket.create_connection((url.hostname, url.port or (443 if scheme == "https" else 80)), timeout=5).close()
        except OSError as e:
            raise NnexpError(f"tracking.uri={uri}: cannot reach the tracking server ({e.strerror or e})") from e


def flatten(d, prefix=""):
    """{'model': {'hidden': [64]}} -> {'model.hidden': '[64]'}: MLflow params are flat strings."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@functools.lru_cache(maxsize=None)
def git_commit():
    """The checkout's commit (once per process: a sweep's jobs all run the same code)."""
    try:
        root = Path(nnexp.__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


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

    @property
    def client(self):
        return client(self.uri)  # one store per process: sweep jobs in a worker reuse it

    @staticmethod
    def _write(call, *args, **kwargs):
        """A store write, retried with backoff while SQLite says the database is locked (many
        processes writing one mlflow.db); any other error at once."""
        for attempt in range(8):
            try:
                return call(*args, **kwargs)
            except Exception as e:
                if attempt == 7 or "database is locked" not in str(e):
                    raise
                time.sleep(0.05 * 2 ** attempt)  # 0.05 s ... 3.2 s, 6.4 s in all

    def _experiment_id(self, name):
        """The experiment's id, created if new; once per process and store (a sweep's jobs share it)."""
        key = (self.uri, name)
        if key not in _experiment_ids:
            _experiment_ids[key] = self._find_or_create_experiment(name)
        return _experiment_ids[key]

    def _find_or_create_experiment(self, name):
        from mlflow.exceptions import MlflowException

        try:
            exp = self.client.get_experiment_by_name(name)
            if exp is not None:
                for key, value in EXPERIMENT_TAGS.items():
                    if exp.tags.get(key) is None:  # made by an older nnexp or by hand: mark it once
                        self._write(self.client.set_experiment_tag, exp.experiment_id, key, value)
                return exp.experiment_id
            return self.client.create_experiment(name, tags=EXPERIMENT_TAGS)
        except MlflowException as e:
            exp = self.client.get_experiment_by_name(name)  # created meanwhile by another process
            if exp is not None:
                return exp.experiment_id
            raise NnexpError(f"tracking.uri={self.uri}: cannot use the MLflow store ({str(e).splitlines()[0]})") from e

    @uninterrupted
    def start(self, experiment, run_name=None, params=None, tags=None, parent_run_id=None, background=False):
        """Create the run; its id (None with background=True: see ready())."""
        args = (experiment, run_name, params, tags, parent_run_id)
        if not background:
            self._create(*args)
            return self.run_id
        self._opening = threading.Thread(target=self._create_in_thread, args=args, name="nnexp-tracking", daemon=True)
        self._opening.start()
        return None

    @uninterrupted
    def reopen(self, run_id, tags=None):
        """Continue an existing run (trainer.resume): RUNNING again, new metrics appended."""
        self._write(self.client.update_run, run_id, status="RUNNING")
        self.run_id = run_id
        if tags:
            self.set_tags(tags)

    def _create_in_thread(self, *args):
        try:
            self._create(*args)
        except BaseException as e:  # handed to the main thread by ready()
            self._error = e

    def _create(self, experiment, run_name, params, tags, parent_run_id):
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
        self.experiment_id = self._experiment_id(experiment)
        try:
            run = self._write(self.client.create_run, self.experiment_id, run_name=run_name, tags=tags)
        except MlflowException:  # the remembered experiment was deleted meanwhile: look it up again
            _experiment_ids.pop((self.uri, experiment), None)
            self.experiment_id = self._experiment_id(experiment)
            run = self._write(self.client.create_run, self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        items = [Param(k, v[:6000]) for k, v in (params or {}).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self._write(self.client.log_batch, self.run_id, params=items[i:i + 100])

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
            self._write(self.client.log_batch, self.run_id, metrics=metrics[i:i + 1000], tags=tags if last else [])
        self._last_flush = time.monotonic()

    @uninterrupted
    def set_tags(self, tags):
        from mlflow.entities import RunTag

        if self.ready(wait=True):
            self._write(self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @uninterrupted
    def log_artifacts(self, files):
        """files: {artifact name: writer(path)}; written to a temp dir, then uploaded."""
        if not self.ready(wait=True):
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, write in files.items():
                write(Path(tmp) / name)
            self.client.log_artifacts(self.run_id, tmp)  # one call for all of them

    @uninterrupted
    def close_other(self, run_id, status, reason):
        """End another run of this store (e.g. a dead worker's trial) with its status and reason,
        through the same retried, signal-guarded writes as this tracker's own run."""
        from mlflow.entities import RunTag

        self._write(self.client.log_batch, run_id, tags=[RunTag(REASON_TAG, reason)])
        self._write(self.client.set_terminated, run_id, status)

    @uninterrupted
    def end(self, status="FINISHED", reason=None):
        """Flush the buffer and terminate the run with its status (and the reason as a tag)."""
        if not self.ready(wait=True):  # raises (once) what a background start raised
            return
        self.flush({REASON_TAG: reason} if reason else None)  # the last metrics and the reason: one call
        self._write(self.client.set_terminated, self.run_id, status)
        self.run_id = None


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


def _key(override: str) -> str:
    """'+optim.lr=0.1' -> 'optim.lr'."""
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys(overrides, sweeper_params) -> list[str]:
    """The keys a multirun sweeps: command-line sweeps (`seed=0,1,2`) and a preset's hydra.sweeper.params."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(overrides))
    given = {o.get_key_element() for o in parsed}
    parsed += [o for o in parser.parse_overrides([f"{k}={v}" for k, v in sweeper_params.items()])
               if o.get_key_element() not in given]
    return [_key(o.get_key_element()) for o in parsed if o.is_sweep_override()]


def job_name(task_overrides) -> str | None:
    """A sweep job's run name: its values of the swept keys, e.g. 'optim.lr=0.1 seed=2' (None outside a sweep)."""
    swept = os.environ.get(SWEPT_ENV)
    if swept is None:
        return None
    keys = swept.split(",") if swept else []
    values = {_key(o): o.split("=", 1)[1] for o in task_overrides if "=" in o}
    return " ".join(f"{k}={values[k]}" for k in keys if k in values) or None


class SweepParentRun(Callback):
    """Hydra callback: a parent MLflow run around a multirun; jobs nest under it via PARENT_ENV and
    are named by what they sweep (SWEPT_ENV). At the end it prints the sweep's summary."""

    def on_multirun_start(self, config, **kwargs):
        from omegaconf import OmegaConf

        params = config.hydra.sweeper.get("params")
        sweep = OmegaConf.to_container(params, resolve=True) if params else {}
        overrides = list(config.hydra.overrides.task)
        keys = swept_keys(overrides, sweep)
        os.environ[SWEPT_ENV] = ",".join(keys)
        if not config.tracking.get("enabled", True):
            return
        tracker = Tracker(config.tracking.get("uri"))
        preset = config.hydra.runtime.choices.get("experiment") or config.tracking.experiment
        tracker.start(config.tracking.experiment, run_name=f"{preset} sweep: {' x '.join(keys) or 'one job'}",
                      params={"sweep.params": str(sweep), "sweep.overrides": " ".join(overrides),
                              "sweep.keys": ",".join(keys)},
                      tags={"nnexp.kind": "sweep", "seed": config.seed, "nnexp.preset": preset})
        os.environ[PARENT_ENV] = tracker.run_id
        _open_parents.append(tracker)

    def on_multirun_end(self, config, **kwargs):
        os.environ.pop(SWEPT_ENV, None)
        if not _open_parents:
            return
        tracker = _open_parents.pop()
        os.environ.pop(PARENT_ENV, None)
        children = tracker.client.search_runs(
            [tracker.client.get_run(tracker.run_id).info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{tracker.run_id}'", max_results=50000)
        failed = [r for r in children if r.info.status != "FINISHED"]
        parent_id, experiment_id = tracker.run_id, tracker.experiment_id
        tracker.set_tags({"nnexp.children": len(children), "nnexp.children_failed": len(failed)})
        if failed:
            tracker.end("FAILED", f"{len(failed)} of {len(children)} jobs did not finish")
        else:
            tracker.end("FINISHED")
        print(sweep_summary(config, parent_id, tracker.uri, children, experiment_id), flush=True)


def ui_hint(uri, experiment_id=None) -> str:
    """How to look at the runs: the `mlflow ui` command for a store (a server's own address for a
    tracking server) and the page of the experiment's runs table. MLflow 3's UI opens on its GenAI
    pages unless the address asks for the model-training view (workflowType=machine_learning)."""
    page = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning" if experiment_id else ""
    if uri.startswith(("http://", "https://")):
        return f"open {uri.rstrip('/')}/{page}"
    return (f"open it with: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000  "
            f"then http://127.0.0.1:5000/{page}")


def sweep_summary(config, parent_id, uri, children, experiment_id=None) -> str:
    """What a sweep did: its parent run, jobs finished and failed, the best job by the objective."""
    import math

    objective = config.objective
    maximise = not objective.endswith("loss")
    done = [r for r in children if r.info.status == "FINISHED"
            and math.isfinite(r.data.metrics.get(objective, math.nan))]
    failed = len(children) - len([r for r in children if r.info.status == "FINISHED"])
    lines = [f"sweep of {len(children)} jobs in experiment '{config.tracking.experiment}': "
             f"{len(children) - failed} finished, {failed} failed or stopped"]
    if done:
        best = (max if maximise else min)(done, key=lambda r: r.data.metrics[objective])
        lines.append(f"  best {objective} {best.data.metrics[objective]:.4f}: {best.info.run_name} (run {best.info.run_id})")
    lines += [f"  parent run {parent_id} in {uri}", f"  {ui_hint(uri, experiment_id)}"]
    return "\n".join(lines)


def close_open_parents(status, reason):
    """Called when a sweep stops with an error or Ctrl-C: no parent run is left RUNNING."""
    while _open_parents:
        _open_parents.pop().end(status, reason)
    os.environ.pop(PARENT_ENV, None)


def load_runs(experiment_name, tracking_uri=None, history=False):
    """The runs of one experiment as a pandas DataFrame (params.*, metrics.* = last values, tags.*).

    With history=True, returns instead a tidy frame of every logged metric value:
    run_id, key, step, value (for learning curves).
    """
    import mlflow
    import pandas as pd

    client(tracking_uri)  # opens (creates) the store under its lock
    mlflow.set_tracking_uri(resolve_uri(tracking_uri))
    runs = mlflow.search_runs(experiment_names=[experiment_name], output_format="pandas")
    if not history:
        return runs
    c = client(tracking_uri)
    rows = []
    for run_id in runs.get("run_id", []):
        for key in c.get_run(run_id).data.metrics:
            rows += [(run_id, key, m.step, m.value) for m in c.get_metric_history(run_id, key)]
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])
