"""MLflow tracking, split by job: `store` (the client per tracking URI, URI checks, retried writes,
experiment ids), `run` (the Tracker of one run), `sweep` (a multirun's parent run and summary) and
`read` (runs, histories and artifacts for analysis and resume). Only this package imports mlflow,
lazily, on first use.

One run per training job, in MLflow's default store `sqlite:///mlflow.db` in the working
directory (so `mlflow ui` started there shows it) unless `tracking.uri` or MLFLOW_TRACKING_URI
says otherwise. A Hydra sweep gets a parent run (`SweepParentRun` callback) with every job nested
under it. Metrics go in one `log_batch` per flush, never one call per value. Every run ends
FINISHED, FAILED or KILLED, with a reason tag.
"""
from .read import artifact_names, download, get_run, histories, load_runs, runs_under  # noqa: F401
from .run import INTERRUPTED, REASON_TAG, NullTracker, Tracker, end_status, make_tracker  # noqa: F401
from .store import (DEFAULT_URI, EXPERIMENT_TAGS, SCHEMES, check_uri, client, flatten, git_commit,  # noqa: F401
                    resolve_uri)
from .sweep import (PARENT_ENV, SWEPT_ENV, SweepParentRun, close_open_parents, current_parent, job_name,  # noqa: F401
                    swept_keys, sweep_summary, ui_hint)
