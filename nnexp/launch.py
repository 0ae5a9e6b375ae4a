"""How nnexp's Hydra launcher runs a sweep: its jobs grouped by shape, each group one population.

Hydra hands the launcher every job's overrides. Each combination of config groups is composed
once, the other jobs derived from it (nnexp.compose); jobs that population.same_shape puts
together (the same network, data, batches and steps; any seed, learning rate, momentum,
weight decay or initialiser) are trained as one population of up to `max_population` members,
the others alone. Every job then goes through Hydra's own run_job,
so its output folder, .hydra/ files, callbacks and return value are what the basic launcher
gives: for a population member the task function finds its finished outcome here instead of
training (cli.hydra_main asks `outcome(job_num)`).
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
_outcomes: dict[int, object] = {}  # job num -> a population member's result (or the exception that ended it)


def outcome(job_num):
    """The finished outcome of job `job_num` if it trained in a population (then forgotten), else None."""
    return _outcomes.pop(job_num, None)


def groups(configs, max_population):
    """Lists of indices into `configs`: jobs of one shape together (at most max_population, in
    sweep order), every other job alone."""
    from .population import eligible, same_shape

    by_shape, out = {}, []
    for i, cfg in enumerate(configs):
        if max_population <= 1 or "search" in cfg or not eligible(cfg):
            out.append([i])
            continue
        key = same_shape(cfg)
        group = by_shape.get(key)
        if group is None or len(group) >= max_population:
            group = by_shape[key] = []
            out.append(group)
        group.append(i)
    return out


def _train_group(configs):
    """Train one group as a population; {index in group: outcome}, or {} if the jobs must run alone."""
    from omegaconf import OmegaConf, open_dict

    from .experiment import population_jobs, run_population
    from .tracking import job_name

    tasks = []
    names, tags = [], []
    for cfg in configs:
        task = list(cfg.hydra.overrides.task)
        tasks.append(task)
        names.append(None if cfg.tracking.get("run_name") else job_name(task))
        tags.append({"nnexp.overrides": " ".join(task), "nnexp.job": cfg.hydra.job.num})
    plain = []
    for cfg in configs:  # the job's config as its task function receives it: without the hydra node
        c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        with open_dict(c):
            c.pop("hydra", None)
        plain.append(c)
    curves = [c.tracking.get("learning_curve") for c in configs]  # null: no PNG for a sweep's jobs (as hydra_main)
    try:
        jobs = population_jobs(plain, names, tags, curve=[False if c is None else bool(c) for c in curves])
    except Exception as e:  # a job cannot even be prepared: each runs alone and says why itself
        log.info(f"population of {len(configs)} jobs not formed ({type(e).__name__}: {e}); they run alone")
        return {}
    return dict(enumerate(run_population(jobs)))


def _run_group(context, task_function, configs, config, singleton_state=None):
    """Train one group (a population, or a lone job) and hand each job to Hydra's run_job; in a
    worker process (singleton_state given) after restoring Hydra's state there, as the joblib
    launcher does."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import configure_log, filter_overrides, run_job, setup_globals

    if singleton_state is not None:
        Singleton.set_state(singleton_state)
        setup_globals()
    for c in configs:
        log.info(f"\t#{c.hydra.job.num} : {' '.join(filter_overrides(list(c.hydra.overrides.task)))}")
    if len(configs) > 1:
        for k, out in _train_group(configs).items():
            _outcomes[configs[k].hydra.job.num] = out
    returns = []
    for c in configs:
        returns.append(run_job(hydra_context=context, task_function=task_function, config=c,
                               job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return returns


def compose_jobs(context, config, job_overrides):
    """Every job's config as Hydra's load_sweep_config gives it, composing only the jobs that differ
    from those composed before in more than plain values (compose.sweep_job): a grid of seeds and
    learning rates is one composition per combination of its config groups."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from .compose import sweep_job

    parser, composed, configs = OverridesParser.create(), [], []
    for overrides in job_overrides:
        parsed = parser.parse_overrides(list(overrides))
        job = next((j for j in (sweep_job(base, done, parsed) for done, base in composed) if j is not None), None)
        if job is None:
            job = context.config_loader.load_sweep_config(config, list(overrides))
            composed.append((parsed, job))  # sweep_job derives copies: the composed job stays as it is
        else:
            OmegaConf.copy_cache(from_config=config, to_config=job)
        configs.append(job)
    return configs


def launch(launcher, job_overrides, initial_job_idx):
    from hydra.core.utils import configure_log, setup_globals
    from omegaconf import open_dict

    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    configs = compose_jobs(context, config, job_overrides)
    for n, sweep_config in enumerate(configs):
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = initial_job_idx + n
            sweep_config.hydra.job.num = initial_job_idx + n
    plan = groups(configs, launcher.max_population)
    sizes = ", ".join(str(len(g)) for g in plan)
    n_jobs = max(1, min(int(launcher.n_jobs), len(plan)))
    where = f" in {n_jobs} processes" if n_jobs > 1 else ""
    log.info(f"Launching {len(configs)} jobs{where}: {len(plan)} populations ({sizes} members)"
             if len(plan) < len(configs) else f"Launching {len(configs)} jobs{where}, each alone")
    returns = [None] * len(configs)
    if n_jobs > 1:
        from hydra.core.singleton import Singleton
        from joblib import Parallel, delayed

        from .tracking import current_parent

        current_parent()  # the worker processes inherit the sweep's parent run id (PARENT_ENV)
        state = Singleton.get_state()
        done = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_run_group)(context, launcher.task_function, [configs[i] for i in g], config, state) for g in plan)
    else:
        done = [_run_group(context, launcher.task_function, [configs[i] for i in g], config) for g in plan]
    for g, rets in zip(plan, done):
        for i, ret in zip(g, rets):
            returns[i] = ret
    return returns
