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


def all_runs(uri):
    """Every run in every experiment of the store at `uri` (info objects)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps) if exps else []
