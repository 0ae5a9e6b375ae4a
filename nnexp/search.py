"""Hyperparameter search with Optuna: the only module that imports optuna.

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

import math
import multiprocessing
import os
import sys
from pathlib import Path

from .config import CONF_DIR
from .errors import ConfigError, NnexpError, RunStopped

DEFAULT_STORAGE = "sqlite:///optuna.db"
COUNTED = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


# --- the search space ----------------------------------------------------------------------------
def parse_space(params) -> dict:
    """{key: (kind, spec)} from {key: "choice(...)" | "interval(a, b)" | "range(a, b, s)" | ...}.

    kind is "categorical" (spec: the override strings of the choices), "float" or "int"
    (spec: (low, high, step, log)). Empty or inverted ranges are refused with one line.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    parser, space = OverridesParser.create(), {}
    for key, expr in (params or {}).items():
        name = f"search.params.{key}"
        try:
            override = parser.parse_override(f"{key}={expr}")
        except HydraException as e:
            raise ConfigError(name, f"cannot parse {expr!r} ({str(e).splitlines()[0]}); allowed: choice(a, b, ...), "
                              "interval(low, high), range(start, stop, step), tag(log, interval(...)), int(...)") from e
        value = override.value()
        if isinstance(value, ChoiceSweep):
            choices = list(override.sweep_string_iterator())
            if not choices:
                raise ConfigError(name, "choice() is empty; give at least one value")
            space[key] = ("categorical", choices)
        elif isinstance(value, IntervalSweep):
            low, high, log = value.start, value.end, "log" in value.tags
            if not low < high or (log and low <= 0):
                raise ConfigError(name, f"interval({low}, {high}) is empty" + (" or not positive (log)" if log else "")
                                  + "; allowed: low < high" + (", low > 0" if log else ""))
            ints = isinstance(low, int) and isinstance(high, int)
            space[key] = ("int" if ints else "float", (low, high, None, log))
        elif isinstance(value, RangeSweep):
            values = list(override.sweep_string_iterator())
            if not values:
                raise ConfigError(name, f"{expr} holds no value; allowed: range(start, stop, step) with start < stop")
            space[key] = ("categorical", values)
        else:
            raise ConfigError(name, f"{expr!r} is a single value, not a search space; allowed: choice(...), "
                              "interval(...), range(...)")
    if not space:
        raise ConfigError("search.params", "the search space is empty; declare at least one key")
    return space


def suggest(trial, space) -> list[str]:
    """The trial's values as Hydra override strings."""
    out = []
    for key, (kind, spec) in space.items():
        if kind == "categorical":
            value = trial.suggest_categorical(key, spec)
        elif kind == "int":
            value = trial.suggest_int(key, spec[0], spec[1], log=spec[3])
        else:
            value = trial.suggest_float(key, spec[0], spec[1], log=spec[3])
        out.append(f"{key}={value}")
    return out


# --- configuration -----------------------------------------------------------------------------
def compose_job(overrides):
    """The config of one trial, composed by Hydra (inside the running app or in a worker process)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    if GlobalHydra.instance().is_initialized():
        cfg = compose("config", overrides=list(overrides))
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="nnexp"):
            cfg = compose("config", overrides=list(overrides))
    with open_dict(cfg):
        cfg.pop("search", None)
    return cfg


def validate_search(s) -> dict:
    """Check a `search` block; returns the parsed space."""
    from .config import OBJECTIVES, _check, _choice, _int  # the same one-line checks as every group

    _choice(s, "metric", OBJECTIVES, "search.metric")
    _choice(s, "direction", ["maximize", "minimize"], "search.direction")
    _int(s, "n_trials", 1, name="search.n_trials")
    _int(s, "workers", 1, name="search.workers")
    _int(s, "seed", 0, name="search.seed")
    _int(s, "heartbeat", 1, name="search.heartbeat")
    _choice(s, "sampler", list(SAMPLERS), "search.sampler")
    _choice(s, "pruner", list(PRUNERS), "search.pruner")
    _check(isinstance(s.get("name"), str) and s.name.strip() != "", "search.name", s.get("name"), "a non-empty name")
    storage = s.get("storage") or DEFAULT_STORAGE
    _check(isinstance(storage, str) and storage.split(":", 1)[0].split("+")[0] in ("sqlite", "postgresql", "mysql"),
           "search.storage", storage, "null (sqlite:///optuna.db), sqlite:///FILE or postgresql://USER@HOST/DB")
    return parse_space(s.params)


SAMPLERS = {
    "tpe": lambda seed: __import__("optuna").samplers.TPESampler(seed=seed),
    "random": lambda seed: __import__("optuna").samplers.RandomSampler(seed=seed),
    "qmc": lambda seed: __import__("optuna").samplers.QMCSampler(seed=seed, scramble=True),
}
PRUNERS = {
    "median": lambda: __import__("optuna").pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "hyperband": lambda: __import__("optuna").pruners.HyperbandPruner(),
    "none": lambda: __import__("optuna").pruners.NopPruner(),
}


# --- the study ---------------------------------------------------------------------------------
def open_study(s, create=False):
    """The study in its RDB storage, with heartbeats and a retry of stale (dead-worker) trials."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat retry API
    url = s.get("storage") or DEFAULT_STORAGE
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=int(s.heartbeat), grace_period=3 * int(s.heartbeat),
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        sampler, pruner = SAMPLERS[s.sampler](int(s.seed)), PRUNERS[s.pruner]()
        if create:
            return optuna.create_study(study_name=s.name, storage=storage, sampler=sampler, pruner=pruner,
                                       direction=s.direction, load_if_exists=True)
        return optuna.load_study(study_name=s.name, storage=storage, sampler=sampler, pruner=pruner)
    except (ImportError, ValueError, optuna.exceptions.OptunaError) as e:
        raise NnexpError(f"search.storage={url}: cannot open the study ({str(e).splitlines()[0]})") from e
    except Exception as e:  # sqlalchemy: unreachable server, bad credentials, read-only file
        raise NnexpError(f"search.storage={url}: cannot open the study ({type(e).__name__}: "
                         f"{str(e).splitlines()[0]})") from e


def counted(study) -> int:
    """Trials that count towards n_trials: all but the failed ones that were retried."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    trials = study.get_trials(deepcopy=False)
    retried = {Retry.retried_trial_number(t) for t in trials} - {None}
    return sum(1 for t in trials if t.state.name in COUNTED and t.number not in retried)


def objective_for(s, space, base_overrides, parent_run_id):
    import optuna

    from .experiment import run

    metric = s.metric

    def objective(trial):
        overrides = [*base_overrides, *suggest(trial, space)]
        trial.set_user_attr("overrides", overrides)

        def report(metrics, step):
            value = metrics[metric]
            if math.isfinite(value):
                trial.report(value, step)
            if trial.should_prune():
                raise RunStopped("KILLED", f"pruned by Optuna at step {step} ({metric} = {value:.4g})")

        try:
            cfg = compose_job(overrides)
            result = run(cfg, progress=False, callback=report, parent_run_id=parent_run_id,
                         run_name=f"trial {trial.number}", tags={"optuna.study": s.name, "optuna.trial": trial.number})
        except RunStopped as e:
            trial.set_user_attr("end_reason", e.reason)
            raise optuna.TrialPruned(e.reason) from e
        except Exception as e:
            trial.set_user_attr("fail_reason", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            raise
        trial.set_user_attr("mlflow_run_id", result["run_id"])
        if result["diverged"]:
            reason = f"diverged at epoch {result['diverged_at_epoch']:g}"
            trial.set_user_attr("fail_reason", reason)
            raise RuntimeError(reason)
        return result["final"][metric]

    return objective


def work(s, space, base_overrides, parent_run_id):
    """One worker: run trials one at a time until the study holds n_trials."""
    study = open_study(s)
    objective = objective_for(s, space, base_overrides, parent_run_id)
    while counted(study) < int(s.n_trials):
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)


def _worker_main(search, space, base_overrides, parent_run_id):
    """Entry point of a spawned worker process (plain containers in, so it pickles)."""
    from omegaconf import OmegaConf

    try:
        work(OmegaConf.create(search), space, base_overrides, parent_run_id)
    except KeyboardInterrupt:
        sys.exit(130)


# --- the command ---------------------------------------------------------------------------------
def close_orphans(tracker, parent_run_id, study):
    """MLflow runs of trials whose worker died (killed mid-trial) end FAILED: nothing stays RUNNING."""
    running = {t.number for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"}
    exp = tracker.client.get_run(parent_run_id).info.experiment_id
    for r in tracker.client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'"):
        if int(r.data.tags.get("optuna.trial", -1)) not in running:
            tracker.client.set_tag(r.info.run_id, "nnexp.end_reason", "its worker died mid-trial (stale heartbeat)")
            tracker.client.set_terminated(r.info.run_id, "FAILED")


def parent_run(tracker, cfg, study, space):
    """The study's MLflow parent run: created once, reopened when the command is run again."""
    from omegaconf import OmegaConf

    s = cfg.search
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id:
        try:
            tracker.client.update_run(run_id, status="RUNNING")
            tracker.run_id = run_id
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


def run_workers(cfg, space, overrides, parent_run_id):
    from omegaconf import OmegaConf

    s = cfg.search
    if int(s.workers) == 1:
        return work(s, space, overrides, parent_run_id)
    ctx = multiprocessing.get_context("spawn")
    args = (OmegaConf.to_container(s, resolve=True), space, list(overrides), parent_run_id)
    procs = [ctx.Process(target=_worker_main, args=args, name=f"nnexp-worker-{i}") for i in range(int(s.workers))]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: let them close their trials
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
        raise


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

    from .tracking import Tracker

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
    except KeyboardInterrupt:
        tracker.end("KILLED", "search interrupted (SIGINT/SIGTERM)")
        raise
    except BaseException as e:
        tracker.end("FAILED", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
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
    print(f"MLflow parent run {parent} in {tracking_uri}; open with: mlflow ui --backend-store-uri "
          f"{tracking_uri} --host 127.0.0.1")
    print(f"open the study with: optuna-dashboard {storage} --host 127.0.0.1")
    return best.value
