"""One training job from a composed config: data, model, tracking, training, artifacts.

This is the glue between the config (plain names and numbers) and the objects the
registries build; it is what the Hydra entry point calls for every job of a run or sweep.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np
from omegaconf import OmegaConf

from .activations import make_activation
from .config import validate, validate_with_data
from .errors import ConfigError
from .initializers import get_initializer
from .losses import make_loss
from .model import MLP
from .optim import SGD
from .shapes import match_widths
from .train import encode_targets, train
from .tracking import current_parent, flatten, make_tracker


def hidden_widths(cfg, n_in, n_out):
    """model.hidden, or widths matched to model.budget at model.depth (see shapes.py)."""
    if cfg.model.get("budget") is None:
        return list(cfg.model.hidden)
    return match_widths(n_in, n_out, cfg.model.depth, cfg.model.budget, cfg.model.bias)


def build(cfg, n_in, n_out, rng):
    """The model and loss a config describes, with weights drawn from `rng`."""
    widths = hidden_widths(cfg, n_in, n_out)
    slope = cfg.activation.get("slope")
    hidden = make_activation(cfg.activation.name, slope, key="activation.name")
    out = make_activation(cfg.model.output, output=True, key="model.output")
    init = get_initializer(cfg.init.scheme, cfg.init.get("value"))
    if getattr(init, "legacy_rng", False):
        rng = np.random.RandomState(cfg.seed)  # the stream np.random.seed(seed) gives, in layer order
    model = MLP([n_in, *widths, n_out], hidden, out, bias=cfg.model.bias,
                dtype=np.dtype(cfg.model.dtype), init=init, bias_init=cfg.init.bias, rng=rng)
    return model, make_loss(cfg.loss.name, out, n_out, cfg.loss.reduction)


def encode_splits(ds, n_out, targets, dtype):
    """{split: (X, T, y)} with inputs in the model's dtype, contiguous, and encoded targets."""
    lo, hi = targets
    return {split: (np.ascontiguousarray(getattr(ds, f"X_{split}"), dtype=dtype),
                    encode_targets(getattr(ds, f"y_{split}"), n_out, lo, hi, dtype),
                    getattr(ds, f"y_{split}"))
            for split in ("train", "val", "test")}


def _blas_threads(n):
    """Limit BLAS threads (parallel sweep jobs on 2 cores must not oversubscribe them)."""
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


_runs_in_process = []  # start-up time is measured for the first run of a process only


IGNORED_ON_RESUME = ("trainer.resume", "trainer.progress", "trainer.threads", "trainer.diagnostics_every", "tracking.")


def load_checkpoint(tracker, run_id, cfg):
    """The checkpoint of interrupted run `run_id`, after checking that it ran this same config."""
    import tempfile

    from .checkpoint import FILES, Checkpoint
    from .tracking import artifact_names, download, flatten, get_run

    if not tracker.uri:
        raise ConfigError("trainer.resume", "needs tracking (the checkpoint is in the MLflow run); not tracking=none")
    try:
        old = get_run(run_id, tracker.uri)
    except Exception as e:
        raise ConfigError("trainer.resume", f"no run {run_id!r} in {tracker.uri}") from e
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    for key in sorted(set(now) | set(old.data.params)):
        if not key.startswith(IGNORED_ON_RESUME) and now.get(key) != old.data.params.get(key):
            raise ConfigError("trainer.resume", f"run {run_id} was made with {key}={old.data.params.get(key)}, "
                                                f"not {now.get(key)}; resume it with the config it ran")
    names = artifact_names(run_id, tracker.uri)
    if not set(FILES) <= names:
        raise ConfigError("trainer.resume", f"run {run_id} has no checkpoint (it ended {old.info.status}; "
                                            "only an interrupted run saves one)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            download(run_id, name, tmp, tracker.uri)
        return Checkpoint.load(tmp)


def process_age(at):
    """Seconds from this process's start to the time.time() `at` (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    booted = time.time() - uptime
    return at - (booted + start_ticks / os.sysconf("SC_CLK_TCK"))


def save_weights(model, path):
    np.savez(path, **{name: p for name, p in model.params()})


def prepare(cfg):
    """What a job trains, from its config: (dataset, model, loss, {split: (X, T, y)}, optimiser,
    shuffling RNG). The weights come from the seed's first child stream, the batches from its
    second; a population (population.py) prepares each member this same way."""
    from .data import load_dataset

    validate(cfg)
    ds = load_dataset(cfg.dataset, cfg.seed)
    n_out = validate_with_data(cfg, len(ds.y_train), ds.n_classes)
    init_seq, shuffle_seq = np.random.SeedSequence(cfg.seed).spawn(2)
    model, loss = build(cfg, ds.X_train.shape[1], n_out, np.random.default_rng(init_seq))
    data = encode_splits(ds, n_out, cfg.loss.targets, model.dtype)
    opt = SGD(model.params(), cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.fused)
    return ds, model, loss, data, opt, np.random.default_rng(shuffle_seq)


class Job:
    """One training job and its MLflow run, with the one end-of-run protocol that single runs,
    sweep jobs, population members and search trials share: start() opens the run, finish(result)
    records the outcome and closes it FINISHED (or FAILED if it diverged), fail(exc) closes it
    FAILED, KILLED (an interrupt; the checkpoint saved) or with a RunStopped's status, each with
    one reason line."""

    def __init__(self, cfg, progress=None, callback=None, parent_run_id=None, tags=None, run_name=None, curve=True):
        self.cfg, self.callback, self.curve, self.extra_tags = cfg, callback, curve, tags
        self.progress = cfg.trainer.progress if progress is None else progress
        self.ds, self.model, self.loss, self.data, self.opt, self.rng = prepare(cfg)
        self.run_name = run_name or cfg.tracking.get("run_name") or \
            f"{'-'.join(map(str, self.model.sizes))} {cfg.activation.name} s{cfg.seed}"
        self.parent_run_id = parent_run_id or current_parent  # resolved when the run is created
        self.tracker = make_tracker(cfg.tracking)
        resume_id = cfg.trainer.get("resume")
        self.checkpoint = load_checkpoint(self.tracker, resume_id, cfg) if resume_id else None

    def on_eval(self, metrics, step):
        self.tracker.log_metrics(metrics, step)
        if self.callback is not None:
            self.callback(metrics, step)

    def start(self):
        cfg, tracker = self.cfg, self.tracker
        if self.checkpoint is not None:
            tracker.reopen(cfg.trainer.resume, {"nnexp.resumed_at_step": self.checkpoint.step})
            return
        tracker.start(*self.run_fields(), background=True)

    def run_fields(self):
        """Tracker.start's (experiment, run name, params, tags, parent run id) for this job."""
        cfg, model = self.cfg, self.model
        return (cfg.tracking.experiment, self.run_name, flatten(OmegaConf.to_container(cfg, resolve=True)),
                {"nnexp.experiment": cfg.tracking.experiment, "seed": cfg.seed, "dataset": cfg.dataset.name,
                 "nnexp.n_params": model.n_params(), "nnexp.hidden": str(model.sizes[1:-1]),
                 "nnexp.n_train": len(self.ds.y_train), **(self.extra_tags or {})}, self.parent_run_id)

    def finish(self, result):
        """Record a finished training's outcome and close the run; returns the result with run info."""
        tracker = self.tracker
        try:
            startup = process_age(result["started_at"]) if not _runs_in_process else None
            _runs_in_process.append(self.run_name)
            if startup is not None:  # python -m nnexp to the first training step; sent with the last metrics
                tracker.log_metrics({"time/startup_s": startup}, 0)
            tracker.ready(wait=True)  # the run exists (raises if the store could not be opened)
            if result["diverged"]:
                reason = f"diverged: loss not finite at epoch {result['diverged_at_epoch']:g}"
                tracker.set_tags({"nnexp.diverged": True, "nnexp.diverged_epoch": result["diverged_at_epoch"]})
                status = ("FAILED", reason)
            else:
                status = ("FINISHED", None)
                if self.cfg.tracking.log_artifacts:
                    _log_artifacts(tracker, self.cfg, self.model, result, self.run_name if self.curve else None)
        except BaseException as e:
            self.fail(e)
            raise
        run_id = tracker.run_id
        tracker.end(*status)
        model = self.model
        result.update(run_id=run_id, tracking_uri=tracker.uri, experiment_id=tracker.experiment_id, model=repr(model),
                      network=model, n_params=model.n_params(),
                      dataset=self.ds.describe() if hasattr(self.ds, "describe") else self.ds.name)
        return result

    def fail(self, e):
        """Close the run for exception `e` (the caller re-raises it)."""
        tracker = self.tracker
        if isinstance(e, KeyboardInterrupt):
            saved = getattr(e, "checkpoint", None)
            if saved is not None and tracker.uri and tracker.ready(wait=True):
                tracker.log_artifacts(saved.writers())
                print(f"nnexp: interrupted; checkpoint at step {saved.step} saved in run {tracker.run_id}: continue "
                      f"with the same arguments and trainer.resume={tracker.run_id}", file=sys.stderr)
            tracker.fail(e, f"; checkpoint at step {saved.step}" if saved is not None and tracker.run_id else "")
        else:
            tracker.fail(e)


def run(cfg, progress=None, callback=None, parent_run_id=None, tags=None, run_name=None, curve=True):
    """Validate, load, train and record one job. Returns the trainer's result plus run info.

    `callback(metrics, step)` is called after each evaluation, after the metrics are logged (a
    search reports them to Optuna there, and may raise RunStopped to prune); `parent_run_id`,
    `tags` and `run_name` place the MLflow run (default parent: the sweep's, if any); `curve=False`
    leaves the learning-curve PNG out of the artifacts (a search's many short trials: drawing it
    costs more than training them, and MLflow charts the logged metrics itself).
    """
    job = Job(cfg, progress, callback, parent_run_id, tags, run_name, curve)
    try:
        job.start()
        with _blas_threads(cfg.trainer.get("threads")):
            result = train(job.model, job.loss, job.opt, job.data, cfg.trainer, job.rng, callback=job.on_eval,
                           resume=job.checkpoint, progress=job.progress)
    except BaseException as e:
        job.fail(e)
        raise
    return job.finish(result)


def population_jobs(cfgs, run_names=None, tags=None, callbacks=None, curve=True, parent_run_id=None):
    """The Jobs of a population, prepared (validated, data loaded, weights drawn); no run started
    yet, so a problem here leaves nothing behind and the jobs can still run alone."""
    P = len(cfgs)
    run_names, tags, callbacks = run_names or [None] * P, tags or [None] * P, callbacks or [None] * P
    curves = curve if isinstance(curve, (list, tuple)) else [curve] * P  # one per job, or one for all
    return [Job(c, False, cb, parent_run_id, t, n, cv)
            for c, n, t, cb, cv in zip(cfgs, run_names, tags, callbacks, curves)]


def _start_together(jobs):
    """Create the members' MLflow runs one after another in one background thread while training
    starts (one thread per run would have them fight over SQLite's write lock); each tracker waits
    for that thread where it would wait for its own (Tracker.ready)."""
    import threading

    tracked = [j for j in jobs if j.tracker.uri]
    if not tracked:
        return

    def create():
        for job in tracked:
            job.tracker._create_in_thread(*job.run_fields())

    opening = threading.Thread(target=create, name="nnexp-tracking", daemon=True)
    for job in tracked:
        job.tracker._opening = opening
    opening.start()


def run_population(jobs):
    """Train jobs of one shape (population.same_shape) as one population, each recorded as its
    own MLflow run exactly as run() records it alone. Returns one entry per job: run()'s result,
    or the exception that ended that job (its run closed by the same protocol). An interrupt
    closes every member's run KILLED with its checkpoint, then propagates."""
    from .population import train_population

    cfg = jobs[0].cfg
    try:
        for job in jobs:
            job.extra_tags = {**(job.extra_tags or {}), "nnexp.population": len(jobs)}  # its size at the start
        _start_together(jobs)
        with _blas_threads(cfg.trainer.get("threads")):
            outcomes = train_population([j.model for j in jobs], [j.loss for j in jobs], [j.opt for j in jobs],
                                        [j.data for j in jobs], cfg.trainer, [j.rng for j in jobs],
                                        callbacks=[j.on_eval for j in jobs])
    except BaseException as e:
        for job in jobs:
            job.fail(e)
        raise
    results, interrupted = [], None
    for job, out in zip(jobs, outcomes):
        if isinstance(out, BaseException):
            job.fail(out)
            interrupted = interrupted or (out if isinstance(out, KeyboardInterrupt) else None)
            results.append(out)
            continue
        try:
            results.append(job.finish(out))
        except Exception as e:  # this member's store or artifacts failed: the others are still recorded
            results.append(e)
    if interrupted is not None:
        raise interrupted
    return results


def _log_artifacts(tracker, cfg, model, result, title):
    """The resolved config, the final weights and (with a title) the learning-curve PNG."""
    def plot(path):
        from .plots import learning_curve

        learning_curve(result["history"], title).savefig(path, dpi=100)

    writers = {"config.yaml": lambda p: p.write_text(OmegaConf.to_yaml(cfg, resolve=True)),
               "weights.npz": lambda p: save_weights(model, p)}
    if title is not None:
        writers["learning_curve.png"] = plot
    tracker.log_artifacts(writers)
