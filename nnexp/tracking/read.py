"""Reading what runs recorded (analysis, resume, a sweep's summary): runs as pandas frames, metric
histories, a run's artifacts, the runs under a parent. Reads go through the process's client.
"""
from __future__ import annotations

from .store import client, resolve_uri


def get_run(run_id, uri=None):
    """The MLflow run `run_id` (raises MlflowException when the store has none)."""
    return client(uri).get_run(run_id)


def runs_under(parent_run_id, uri=None, status=None):
    """The runs nested under a parent run (a sweep's jobs, a study's trials), optionally only those
    with an MLflow status (e.g. 'RUNNING')."""
    c = client(uri)
    where = f"tags.mlflow.parentRunId = '{parent_run_id}'" + (f" and attributes.status = '{status}'" if status else "")
    return c.search_runs([get_run(parent_run_id, uri).info.experiment_id], filter_string=where, max_results=50000)


def artifact_names(run_id, uri=None) -> set:
    """The names of a run's top-level artifacts."""
    return {a.path for a in client(uri).list_artifacts(run_id)}


def download(run_id, name, dest, uri=None) -> str:
    """Artifact `name` of a run downloaded into the directory `dest`; its local path."""
    return client(uri).download_artifacts(run_id, name, str(dest))


def histories(run_ids, keys, uri=None):
    """Tidy per-evaluation values: run_id, key, step, value, for the given metric keys."""
    import pandas as pd

    c = client(uri)
    rows = [(rid, key, m.step, m.value) for rid in run_ids for key in keys
            for m in c.get_metric_history(rid, key)]
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])


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
    frames = [histories([run_id], list(get_run(run_id, tracking_uri).data.metrics), tracking_uri)
              for run_id in runs.get("run_id", [])]
    return pd.concat(frames, ignore_index=True) if frames else histories([], [], tracking_uri)
