"""The study and its workers: RDB storage with heartbeats, the objective (one nnexp run per trial,
pruned through the training callback), and worker processes that share the study."""
from __future__ import annotations

import math
import multiprocessing
import sys
import time

from ..config import CONF_DIR
from ..errors import NnexpError, RunStopped
from ..locks import deferred_signals, store_lock
from .space import COUNTED, DEFAULT_STORAGE, PRUNERS, SAMPLERS, suggest

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


# --- the study ---------------------------------------------------------------------------------
def open_study(s, create=False):
    """The study in its RDB storage, with heartbeats and a retry of stale (dead-worker) trials."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat retry API
    url = s.get("storage") or DEFAULT_STORAGE
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(4):
        try:
            return _open(optuna, s, url, kwargs, create)
        except (ImportError, ValueError, optuna.exceptions.OptunaError) as e:
            raise NnexpError(f"search.storage={url}: cannot open the study ({str(e).splitlines()[0]})") from e
        except Exception as e:  # sqlalchemy: unreachable server, bad credentials, read-only file
            if attempt < 3 and url.startswith("sqlite") and _racing(e):
                time.sleep(0.5 * 2 ** attempt)  # a process outside the lock (a dashboard) created it meanwhile
                continue
            raise NnexpError(f"search.storage={url}: cannot open the study ({type(e).__name__}: "
                             f"{str(e).splitlines()[0]})") from e


def _racing(e) -> bool:
    msg = str(e)
    return any(m in msg for m in ("already exists", "UNIQUE constraint", "database is locked"))


def _open(optuna, s, url, kwargs, create):
    with store_lock(url):  # a fresh SQLite file: one process creates the tables, the others wait
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=int(s.heartbeat), grace_period=3 * int(s.heartbeat),
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        sampler, pruner = SAMPLERS[s.sampler](int(s.seed)), PRUNERS[s.pruner]()
        if create:
            return optuna.create_study(study_name=s.name, storage=storage, sampler=sampler, pruner=pruner,
                                       direction=s.direction, load_if_exists=True)
        return optuna.load_study(study_name=s.name, storage=storage, sampler=sampler, pruner=pruner)


def counted(study) -> int:
    """Trials that count towards n_trials: all but the failed ones that were retried."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    trials = study.get_trials(deepcopy=False)
    retried = {Retry.retried_trial_number(t) for t in trials} - {None}
    return sum(1 for t in trials if t.state.name in COUNTED and t.number not in retried)


def objective_for(s, space, base_overrides, parent_run_id):
    import optuna

    from ..experiment import run

    metric = s.metric

    def objective(trial):
        overrides = [*base_overrides, *suggest(trial, space)]
        trial.set_user_attr("overrides", overrides)

        def report(metrics, step):
            value = metrics[metric]
            with deferred_signals():  # a Ctrl-C must not cut a storage read or write (an open
                if math.isfinite(value):  # SQLite transaction would lock the other workers out)
                    trial.report(value, step)
                prune = trial.should_prune()
            if prune:
                raise RunStopped("KILLED", f"pruned by Optuna at step {step} ({metric} = {value:.4g})")

        try:
            cfg = compose_job(overrides)
            result = run(cfg, progress=False, callback=report, parent_run_id=parent_run_id,
                         run_name=f"trial {trial.number}", tags={"optuna.study": s.name, "optuna.trial": trial.number},
                         curve=False)
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


def run_workers(cfg, space, overrides, parent_run_id):
    from omegaconf import OmegaConf

    s = cfg.search
    if int(s.workers) == 1:
        return work(s, space, overrides, parent_run_id)
    # spawned workers (fork is unsafe with open database connections); this process only waits: a
    # Ctrl-C here must not leave it holding a SQLite transaction the workers need to close their trials
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
