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


def reporter(trial, metric):
    """The training callback of a trial: report the metric, raise RunStopped when Optuna prunes."""
    def report(metrics, step):
        value = metrics[metric]
        with deferred_signals():  # a Ctrl-C must not cut a storage read or write (an open
            if math.isfinite(value):  # SQLite transaction would lock the other workers out)
                trial.report(value, step)
            prune = trial.should_prune()
        if prune:
            raise RunStopped("KILLED", f"pruned by Optuna at step {step} ({metric} = {value:.4g})")

    return report


def trial_job(s, trial, parent_run_id):
    """run()'s placement of a trial's MLflow run: (run name, tags, parent)."""
    return f"trial {trial.number}", {"optuna.study": s.name, "optuna.trial": trial.number}, parent_run_id


def value_of(trial, metric, outcome):
    """A trial's value from its run's outcome (run()'s result, or the exception that ended it), the
    trial's user attributes set on the way; raises what study.optimize records as PRUNED or FAIL."""
    import optuna

    if isinstance(outcome, RunStopped):
        trial.set_user_attr("end_reason", outcome.reason)
        raise optuna.TrialPruned(outcome.reason) from outcome
    if isinstance(outcome, BaseException):
        trial.set_user_attr("fail_reason", f"{type(outcome).__name__}: "
                                           f"{str(outcome).splitlines()[0] if str(outcome) else ''}")
        raise outcome
    trial.set_user_attr("mlflow_run_id", outcome["run_id"])
    if outcome["diverged"]:
        reason = f"diverged at epoch {outcome['diverged_at_epoch']:g}"
        trial.set_user_attr("fail_reason", reason)
        raise RuntimeError(reason)
    return outcome["final"][metric]


def objective_for(s, space, base_overrides, parent_run_id):
    from ..experiment import run

    def objective(trial):
        overrides = [*base_overrides, *suggest(trial, space)]
        trial.set_user_attr("overrides", overrides)
        name, tags, parent = trial_job(s, trial, parent_run_id)
        try:
            cfg = compose_job(overrides)
            outcome = run(cfg, progress=False, callback=reporter(trial, s.metric), parent_run_id=parent,
                          run_name=name, tags=tags, curve=False)
        except Exception as e:
            outcome = e
        return value_of(trial, s.metric, outcome)

    return objective


def work(s, space, base_overrides, parent_run_id):
    """One worker: run trials one at a time (search.batch 1), or ask Optuna for search.batch
    trials at once and train those of one shape as a population, until the study holds n_trials."""
    study = open_study(s)
    if int(s.get("batch", 1)) > 1:
        return work_batched(study, s, space, base_overrides, parent_run_id)
    objective = objective_for(s, space, base_overrides, parent_run_id)
    while counted(study) < int(s.n_trials):
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)


def work_batched(study, s, space, base_overrides, parent_run_id):
    """Batches of trials by ask and tell: each batch's trials of one shape (population.same_shape)
    train as one population, each reporting to Optuna and pruned on its own; the rest alone. Every
    trial sends heartbeats while its batch trains, as study.optimize's trials do."""
    import contextlib

    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread  # what study.optimize uses; no public API for ask/tell
    from optuna.trial import TrialState

    from ..experiment import population_jobs, run, run_population
    from ..population import eligible, same_shape

    while (left := int(s.n_trials) - counted(study)) > 0:
        optuna.storages.fail_stale_trials(study)  # and retried by the storage's callback
        trials = [study.ask() for _ in range(min(int(s.batch), left))]
        outcomes, cfgs = {}, {}
        for t in trials:
            overrides = [*base_overrides, *suggest(t, space)]
            t.set_user_attr("overrides", overrides)
            try:
                cfgs[t.number] = compose_job(overrides)
            except Exception as e:
                outcomes[t.number] = e
        groups = {}
        for t in trials:
            if t.number in cfgs:
                cfg = cfgs[t.number]
                groups.setdefault(same_shape(cfg) if eligible(cfg) else ("alone", t.number), []).append(t)
        try:
            with contextlib.ExitStack() as beats:
                for t in trials:
                    beats.enter_context(get_heartbeat_thread(t._trial_id, study._storage))
                for group in groups.values():
                    outcomes.update(_train_trials(s, group, cfgs, parent_run_id, population_jobs, run_population, run))
        except KeyboardInterrupt:
            for t in trials:
                if study._storage.get_trial(t._trial_id).state == TrialState.RUNNING:
                    study.tell(t, state=TrialState.FAIL)
            raise
        for t in trials:
            try:
                study.tell(t, value_of(t, s.metric, outcomes[t.number]))
            except optuna.TrialPruned:
                study.tell(t, state=TrialState.PRUNED)
            except Exception:
                study.tell(t, state=TrialState.FAIL)


def _train_trials(s, group, cfgs, parent_run_id, population_jobs, run_population, run):
    """{trial number: outcome} for trials of one shape: one population, or one trial alone."""
    placed = [trial_job(s, t, parent_run_id) for t in group]
    callbacks = [reporter(t, s.metric) for t in group]
    if len(group) > 1:
        try:
            jobs = population_jobs([cfgs[t.number] for t in group], [p[0] for p in placed], [p[1] for p in placed],
                                   callbacks, curve=False, parent_run_id=parent_run_id)
        except Exception:
            jobs = None  # a trial cannot even be prepared: each runs alone and says why
        if jobs is not None:
            return {t.number: out for t, out in zip(group, run_population(jobs))}
    out = {}
    for t, (name, tags, parent), cb in zip(group, placed, callbacks):
        try:
            out[t.number] = run(cfgs[t.number], progress=False, callback=cb, parent_run_id=parent, run_name=name,
                                tags=tags, curve=False)
        except Exception as e:
            out[t.number] = e
    return out


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
