"""Access to an MLflow store: the process's client per tracking URI (opened once, under a file lock
for SQLite), cheap checks of a URI before anything runs, retried writes, and experiment ids looked up
once per process. The only place that opens a store; mlflow is imported lazily, on first use.
"""
from __future__ import annotations

import functools
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import nnexp
from ..errors import NnexpError
from ..locks import store_lock

DEFAULT_URI = "sqlite:///mlflow.db"
# MLflow 3's UI opens an experiment on its GenAI traces page unless the experiment says it holds models
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
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

    from ..locks import sqlite_file

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


def write(call, *args, **kwargs):
    """A store write, retried with backoff while SQLite says the database is locked (many
    processes writing one mlflow.db); any other error at once."""
    for attempt in range(8):
        try:
            return call(*args, **kwargs)
        except Exception as e:
            if attempt == 7 or "database is locked" not in str(e):
                raise
            time.sleep(0.05 * 2 ** attempt)  # 0.05 s ... 3.2 s, 6.4 s in all


def experiment_id(uri, name, refresh=False):
    """The experiment's id in the store at `uri`, created if new; once per process and store (a
    sweep's jobs share it). refresh=True looks it up again (it was deleted meanwhile)."""
    key = (resolve_uri(uri), name)
    if refresh:
        _experiment_ids.pop(key, None)
    if key not in _experiment_ids:
        _experiment_ids[key] = _find_or_create_experiment(key[0], name)
    return _experiment_ids[key]


def _find_or_create_experiment(uri, name):
    from mlflow.exceptions import MlflowException

    c = client(uri)
    try:
        exp = c.get_experiment_by_name(name)
        if exp is not None:
            for key, value in EXPERIMENT_TAGS.items():
                if exp.tags.get(key) is None:  # made by an older nnexp or by hand: mark it once
                    write(c.set_experiment_tag, exp.experiment_id, key, value)
            return exp.experiment_id
        return c.create_experiment(name, tags=EXPERIMENT_TAGS)
    except MlflowException as e:
        exp = c.get_experiment_by_name(name)  # created meanwhile by another process
        if exp is not None:
            return exp.experiment_id
        raise NnexpError(f"tracking.uri={uri}: cannot use the MLflow store ({str(e).splitlines()[0]})") from e
