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
from .errors import ConfigError, RunStopped
from .initializers import get_initializer
from .losses import make_loss
from .model import MLP
from .optim import SGD
from .shapes import match_widths
from .train import encode_targets, train
from .tracking import PARENT_ENV, flatten, make_tracker


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
    from .tracking import flatten

    if not tracker.uri:
        raise ConfigError("trainer.resume", "needs tracking (the checkpoint is in the MLflow run); not tracking=none")
    try:
        old = tracker.client.get_run(run_id)
    except Exception as e:
        raise ConfigError("trainer.resume", f"no run {run_id!r} in {tracker.uri}") from e
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    for key in sorted(set(now) | set(old.data.params)):
        if not key.startswith(IGNORED_ON_RESUME) and now.get(key) != old.data.params.get(key):
            raise ConfigError("trainer.resume", f"run {run_id} was made with {key}={old.data.params.get(key)}, "
                                                f"not {now.get(key)}; resume it with the config it ran")
    names = {a.path for a in tracker.client.list_artifacts(run_id)}
    if not set(FILES) <= names:
        raise ConfigError("trainer.resume", f"run {run_id} has no checkpoint (it ended {old.info.status}; "
                                            "only an interrupted run saves one)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            tracker.client.download_artifacts(run_id, name, tmp)
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


def run(cfg, progress=None, callback=None, parent_run_id=None, tags=None, run_name=None, curve=True):
    """Validate, load, train and record one job. Returns the trainer's result plus run info.

    `callback(metrics, step)` is called after each evaluation, after the metrics are logged (a
    search reports them to Optuna there, and may raise RunStopped to prune); `parent_run_id`,
    `tags` and `run_name` place the MLflow run (default parent: the sweep's, if any); `curve=False`
    leaves the learning-curve PNG out of the artifacts (a search's many short trials: drawing it
    costs more than training them, and MLflow charts the logged metrics itself).
    """
    from .data import load_dataset

    validate(cfg)
    ds = load_dataset(cfg.dataset, cfg.seed)
    n_out = validate_with_data(cfg, len(ds.y_train), ds.n_classes)
    init_seq, shuffle_seq = np.random.SeedSequence(cfg.seed).spawn(2)
    model, loss = build(cfg, ds.X_train.shape[1], n_out, np.random.default_rng(init_seq))
    data = encode_splits(ds, n_out, cfg.loss.targets, model.dtype)
    opt = SGD(model.params(), cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.fused)

    run_name = run_name or cfg.tracking.get("run_name") or \
        f"{'-'.join(map(str, model.sizes))} {cfg.activation.name} s{cfg.seed}"
    tracker = make_tracker(cfg.tracking)
    resume_id = cfg.trainer.get("resume")
    checkpoint = load_checkpoint(tracker, resume_id, cfg) if resume_id else None

    def on_eval(metrics, step):
        tracker.log_metrics(metrics, step)
        if callback is not None:
            callback(metrics, step)

    try:
        if checkpoint is not None:
            tracker.reopen(resume_id, {"nnexp.resumed_at_step": checkpoint.step})
        else:
            tracker.start(cfg.tracking.experiment, run_name=run_name,
                          params=flatten(OmegaConf.to_container(cfg, resolve=True)),
                          tags={"nnexp.experiment": cfg.tracking.experiment, "seed": cfg.seed,
                                "dataset": cfg.dataset.name, "nnexp.n_params": model.n_params(),
                                "nnexp.hidden": str(model.sizes[1:-1]), "nnexp.n_train": len(ds.y_train), **(tags or {})},
                          parent_run_id=parent_run_id or os.environ.get(PARENT_ENV), background=True)
        with _blas_threads(cfg.trainer.get("threads")):
            result = train(model, loss, opt, data, cfg.trainer, np.random.default_rng(shuffle_seq),
                           callback=on_eval, resume=checkpoint,
                           progress=cfg.trainer.progress if progress is None else progress)
        startup = process_age(result["started_at"]) if not _runs_in_process else None
        _runs_in_process.append(run_name)
        if startup is not None:  # python -m nnexp to the first training step; sent with the last metrics
            tracker.log_metrics({"time/startup_s": startup}, 0)
        tracker.ready(wait=True)  # the run exists (raises if the store could not be opened)
        if result["diverged"]:
            reason = f"diverged: loss not finite at epoch {result['diverged_at_epoch']:g}"
            tracker.set_tags({"nnexp.diverged": True, "nnexp.diverged_epoch": result["diverged_at_epoch"]})
            tracker_status = ("FAILED", reason)
        else:
            tracker_status = ("FINISHED", None)
            if cfg.tracking.log_artifacts:
                _log_artifacts(tracker, cfg, model, result, run_name if curve else None)
    except KeyboardInterrupt as e:
        saved = getattr(e, "checkpoint", None)
        if saved is not None and tracker.uri and tracker.ready(wait=True):
            tracker.log_artifacts(saved.writers())
            print(f"nnexp: interrupted; checkpoint at step {saved.step} saved in run {tracker.run_id}: continue "
                  f"with the same arguments and trainer.resume={tracker.run_id}", file=sys.stderr)
        tracker.end("KILLED", "interrupted (SIGINT/SIGTERM)"
                    + (f"; checkpoint at step {saved.step}" if saved is not None and tracker.run_id else ""))
        raise
    except RunStopped as e:
        tracker.end(e.status, e.reason)
        raise
    except BaseException as e:
        tracker.end("FAILED", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        raise
    run_id = tracker.run_id
    tracker.end(*tracker_status)
    result.update(run_id=run_id, tracking_uri=tracker.uri, experiment_id=tracker.experiment_id, model=repr(model), network=model, n_params=model.n_params(),
                  dataset=ds.describe() if hasattr(ds, "describe") else ds.name)
    return result


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
