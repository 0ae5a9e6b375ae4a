"""Locks: cross-process locks for the local SQLite stores, and writes that a signal cannot cut.

Creating a fresh SQLite store is not safe under concurrency: MLflow and Optuna both create their
tables and stamp the schema version without a transaction around the whole, so two processes
opening a new file at once fail with "table ... already exists" or a UNIQUE constraint on
alembic_version. A file lock beside the database (`mlflow.db.lock`) makes the first open of a
store one process at a time; later writes are serialised by SQLite itself (busy timeout).
PostgreSQL and other servers need no lock.

A Ctrl-C or SIGTERM that lands inside a database write would leave that connection's transaction
open and the next write (ending the run KILLED) waiting on SQLite's lock: `deferred_signals` holds
such signals until the write is done, then delivers them.
"""
from __future__ import annotations

import contextlib
import functools
import signal
import threading

SQLITE_PREFIX = "sqlite:///"
LOCK_TIMEOUT = 300  # seconds; a migration takes a few


def sqlite_file(url: str):
    """The database file of a sqlite:/// URL (relative or absolute), None for anything else."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url[len(SQLITE_PREFIX):].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


@contextlib.contextmanager
def store_lock(url: str):
    """Hold the store's lock file while the block runs (no-op for servers and when the directory
    is not writable: the store's own open then fails with its own error, which callers report)."""
    path = sqlite_file(url)
    if path is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(path + ".lock", timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except (OSError, Timeout):
        yield
        return
    try:
        yield
    finally:
        lock.release()


DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_signals():
    """SIGINT and SIGTERM received inside the block are delivered when it ends (main thread only;
    elsewhere signals are not delivered to the thread anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    old = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in DEFERRED}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(received):
            signal.raise_signal(s)  # the original handlers run now: KeyboardInterrupt, exit ...


def uninterrupted(method):
    """Decorator: the call runs inside deferred_signals()."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with deferred_signals():
            return method(*args, **kwargs)
    return wrapper
