"""Shared fixtures: configs composed with Hydra's compose API, a temporary MLflow store."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


@pytest.fixture
def compose_cfg():
    """compose_cfg(*overrides) -> the composed DictConfig, exactly as `python -m nnexp` builds it."""
    from hydra import compose, initialize_config_dir

    def _compose(*overrides, hydra_cfg=False):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("config", overrides=list(overrides), return_hydra_config=hydra_cfg)

    return _compose


@pytest.fixture
def cli(tmp_path):
    """cli(*args) runs `python -m nnexp` in a subprocess in tmp_path with its own MLflow store."""
    import subprocess

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def _run(*args, timeout=300):
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "nnexp", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)

    _run.uri = uri
    return _run


def missing(message):
    """A test whose data or server is not on this machine: skipped with the hint here, a failure in
    CI (CI=true), where `.ci/run` installs everything and a skip would hide a failure."""
    pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def all_runs(uri):
    """Every run in every experiment of the store at `uri` (info objects)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps) if exps else []


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server (Debian's `postgresql` package) on 127.0.0.1 and a free port, in a
    temporary cluster, stopped and removed afterwards. As root the server runs as user postgres."""
    import glob
    import shutil
    import socket
    import subprocess
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:  # CI installs it (.ci/run) and must run this test; elsewhere say what is missing
        missing("PostgreSQL server binaries not found: apt-get install postgresql (.ci/run does)")
    bindir = Path(bins[-1]).parent
    root = os.geteuid() == 0
    as_db = (lambda cmd: ["runuser", "-u", "postgres", "--", *cmd]) if root else (lambda cmd: cmd)
    data = tempfile.mkdtemp(prefix="nnexp-pg-")
    os.chmod(data, 0o700)
    if root:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(as_db([str(bindir / "initdb"), "-D", data, "-U", "nnexp", "--auth=trust"]), check=True,
                   capture_output=True)
    subprocess.run(as_db([str(bindir / "pg_ctl"), "-D", data, "-w", "-l", f"{data}/server.log", "-o",
                          f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]), check=True,
                   capture_output=True)
    try:
        subprocess.run(as_db([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "nnexp", "optuna"]),
                       check=True, capture_output=True)
        yield f"postgresql://nnexp@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(as_db([str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def load_script(name):
    """An analysis script of experiments/ imported as a module (they are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep_values(cfg):
    """A preset's hydra.sweeper.params as {key: [value strings]}."""
    return {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}


def interruptible():
    """preexec_fn for children a test interrupts with SIGINT: a shell starts background jobs with
    SIGINT ignored, and children inherit that, so Ctrl-C would never reach them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def sigint_raises():
    """In this process, SIGINT raises KeyboardInterrupt for the test (even under a background shell)."""
    import signal

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)

