"""Hydra multiruns in MLflow: the parent run around a sweep (a Hydra callback), its jobs' run names,
and the summary printed at its end.
"""
from __future__ import annotations

import os

from hydra.experimental.callback import Callback

from .read import runs_under
from .run import Tracker

PARENT_ENV = "NNEXP_MLFLOW_PARENT_RUN_ID"
SWEPT_ENV = "NNEXP_SWEPT_KEYS"  # the keys a multirun sweeps, for its jobs' run names (set by SweepParentRun)
_open_parents: list[Tracker] = []  # sweep parent runs started in this process


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


IN_PROCESS = ("PopulationLauncher", "BasicLauncher")  # launchers whose jobs start in this process


def current_parent():
    """The run id of this process's sweep parent, once it exists (waiting for its creation; None if that
    failed, said at the sweep's end), exported in PARENT_ENV for processes started from here; in a
    process without one (a joblib worker), PARENT_ENV's."""
    if not _open_parents:
        return os.environ.get(PARENT_ENV)
    run_id = _open_parents[-1].created()
    if run_id:
        os.environ[PARENT_ENV] = run_id
    return run_id


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
        # Opening the store (importing mlflow: ~2 s) overlaps composing and training the first jobs when
        # they run in this process (nnexp's launcher, the basic one); their runs ask current_parent().
        in_process = str(config.hydra.launcher.get("_target_", "")).endswith(IN_PROCESS)
        tracker.start(config.tracking.experiment, run_name=f"{preset} sweep: {' x '.join(keys) or 'one job'}",
                      params={"sweep.params": str(sweep), "sweep.overrides": " ".join(overrides),
                              "sweep.keys": ",".join(keys)},
                      tags={"nnexp.kind": "sweep", "seed": config.seed, "nnexp.preset": preset},
                      background=in_process)
        _open_parents.append(tracker)
        if not in_process:
            current_parent()

    def on_multirun_end(self, config, **kwargs):
        os.environ.pop(SWEPT_ENV, None)
        if not _open_parents:
            return
        tracker = _open_parents.pop()
        os.environ.pop(PARENT_ENV, None)
        tracker.ready(wait=True)  # raises what creating it raised
        children = runs_under(tracker.run_id, tracker.uri)
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
