"""Hyperparameter search with Optuna: the only package that imports optuna.

`python -m nnexp +search=NAME` runs a study whose space is declared in YAML with the syntax of
Hydra's Optuna sweeper (`choice(...)`, `interval(...)`, `range(...)`, `tag(log, ...)`,
`int(...)`), over any config key or group. Optuna drives the trials; each trial's config is
composed by Hydra's compose API from the command's overrides plus the trial's values, then
trained by `nnexp.experiment.run`, reporting the metric every evaluation so that a pruner can
stop it at once. Storage is Optuna's RDB storage (SQLite file by default, PostgreSQL for many
machines) with heartbeats, so a trial whose worker died is detected as stale and retried.
Re-running the command resumes the study up to `n_trials`; `search.workers` processes share it.
"""
from __future__ import annotations

from pathlib import Path

from .space import DEFAULT_STORAGE, PRUNERS, SAMPLERS, parse_space, validate_search  # noqa: F401 (public API)
from .study import compose_job, counted, open_study, run_workers


# --- the command ---------------------------------------------------------------------------------
def close_orphans(tracker, parent_run_id, study):
    """MLflow runs of trials whose worker died (killed mid-trial) end FAILED: nothing stays RUNNING."""
    running = {t.number for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"}
    from ..tracking import runs_under

    for r in runs_under(parent_run_id, tracker.uri, status="RUNNING"):
        if int(r.data.tags.get("optuna.trial", -1)) not in running:
            tracker.close_other(r.info.run_id, "FAILED", "its worker died mid-trial (stale heartbeat)")


def parent_run(tracker, cfg, study, space):
    """The study's MLflow parent run: created once, reopened when the command is run again."""
    from omegaconf import OmegaConf

    s = cfg.search
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id:
        try:
            tracker.reopen(run_id)
            return run_id
        except Exception:  # the study outlived its MLflow store: start a new parent
            pass
    params = {f"search.{k}": str(v) for k, v in OmegaConf.to_container(s, resolve=True).items() if k != "params"}
    params.update({f"space.{k}": str(v) for k, v in OmegaConf.to_container(s.params).items()})
    run_id = tracker.start(cfg.tracking.experiment, run_name=f"study {s.name}", params=params,
                           tags={"nnexp.kind": "search", "optuna.study": s.name,
                                 "optuna.storage": s.get("storage") or DEFAULT_STORAGE})
    study.set_user_attr("mlflow_parent_run_id", run_id)
    return run_id


def write_best(study, s, out_dir: Path) -> Path | None:
    """The best trial's full config as a primary config file that reruns it:
    `python -m nnexp --config-path OUT --config-name best_<study>`."""
    import yaml
    from omegaconf import OmegaConf

    try:
        best = study.best_trial
    except ValueError:
        return None
    body = OmegaConf.to_container(compose_job(best.user_attrs["overrides"]), resolve=True)
    path = out_dir / f"best_{_safe(s.name)}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Best trial {best.number} of study {s.name!r}: {s.metric} = {best.value:.6g}\n"
              f"# Rerun: python -m nnexp --config-path {out_dir.resolve()} --config-name {path.stem}\n")
    hydra = {"defaults": ["_self_"], "hydra": {"job": {"name": "nnexp", "chdir": False}}}
    path.write_text(header + yaml.safe_dump(hydra, sort_keys=False) + yaml.safe_dump(body, sort_keys=False))
    return path


def _safe(name: str) -> str:
    """A file-name-safe version of a study name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:80] or "study"


def save_plots(study, out_dir: Path) -> list[Path]:
    """Optuna's matplotlib plots of the study; a plot that cannot be drawn yet is skipped with a note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization import matplotlib as ovm

    import warnings

    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Tight layout not applied")  # parallel coordinates' long labels
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, plot in (("optimization_history", ovm.plot_optimization_history),
                       ("param_importances", ovm.plot_param_importances),
                       ("parallel_coordinate", ovm.plot_parallel_coordinate),
                       ("intermediate_values", ovm.plot_intermediate_values)):
        try:
            ax = plot(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(9, 5)
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            paths.append(path)
        except Exception as e:  # e.g. importances need two completed trials
            print(f"note: {name} plot skipped ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    return paths


def run_search(cfg, overrides, out_dir: Path):
    """The command: open or resume the study, run the trials, summarise. Returns the best value."""
    import warnings

    from ..tracking import Tracker

    warnings.filterwarnings("ignore", category=Warning, module="optuna")
    s = cfg.search
    space = validate_search(s)
    study = open_study(s, create=True)
    tracker = Tracker(cfg.tracking.get("uri"))
    parent = parent_run(tracker, cfg, study, space)
    before = counted(study)
    try:
        close_orphans(tracker, parent, study)
        run_workers(cfg, space, overrides, parent)
        close_orphans(tracker, parent, study)
        study = open_study(s)
        best_yaml = write_best(study, s, out_dir)
        plots = save_plots(study, out_dir / "plots")
        tracker.log_artifacts({p.name: (lambda dst, src=p: dst.write_bytes(src.read_bytes()))
                               for p in plots + ([best_yaml] if best_yaml else [])})
        states = [t.state.name for t in study.get_trials(deepcopy=False)]
        tracker.set_tags({f"optuna.{k.lower()}": states.count(k) for k in ("COMPLETE", "PRUNED", "FAIL")})
    except BaseException as e:
        tracker.fail(e)
        raise
    tracker.end("FINISHED")
    return summary(study, s, before, best_yaml, parent, tracker.uri)


def summary(study, s, before, best_yaml, parent, tracking_uri):
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    storage = s.get("storage") or DEFAULT_STORAGE
    print(f"study {s.name!r} in {storage}: {len(states)} trials ({len(states) - before} run now; "
          + ", ".join(f"{states.count(k)} {k.lower()}" for k in ("COMPLETE", "PRUNED", "FAIL")) + ")")
    try:
        best = study.best_trial
    except ValueError:
        print("no trial completed: no best value yet")
        return float("nan")
    print(f"best {s.metric} = {best.value:.6g} (trial {best.number}): "
          + ", ".join(f"{k}={v}" for k, v in best.params.items()))
    if best_yaml:
        print(f"best config: {best_yaml}\n  rerun it with: python -m nnexp --config-path "
              f"{best_yaml.parent.resolve()} --config-name {best_yaml.stem}")
    from ..tracking import get_run, ui_hint

    experiment_id = get_run(parent, tracking_uri).info.experiment_id if parent else None
    print(f"MLflow parent run {parent} in {tracking_uri}; {ui_hint(tracking_uri, experiment_id)}")
    print(f"open the study with: optuna-dashboard {storage} --host 127.0.0.1")
    return best.value
