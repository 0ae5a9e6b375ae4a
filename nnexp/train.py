"""The training loop: one explicit loop over SGD steps, with evaluation and diagnostics.

What it is: mini-batch SGD (batch 1 up to the full set, with or without replacement, each
batch optionally repeated `repeat` times as seed 002 does), evaluation every epoch or every
`eval_every` steps, divergence detection. What it is not: it knows nothing of Hydra, MLflow
or Optuna; it reports each evaluation to `callback(metrics, step)` and returns a dict.
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np


def encode_targets(y, n_out, lo=0.0, hi=1.0, dtype=np.float32):
    """Integer labels (n,) -> targets (n, n_out): one-hot with lo/hi (0.01/0.99 as seed 001),
    or for one output unit the label itself mapped to lo/hi."""
    if n_out == 1:
        return np.where(y[:, None] == 1, hi, lo).astype(dtype)
    T = np.full((len(y), n_out), lo, dtype=dtype)
    T[np.arange(len(y)), y] = hi
    return T


def predict_labels(a):
    """Class predictions from outputs (batch, n_out); one unit means a threshold at 0.5."""
    return (a[:, 0] > 0.5).astype(np.int64) if a.shape[1] == 1 else a.argmax(axis=1)


def scores(loss, a, T, y, z=None):
    """Mean loss and accuracy of outputs a (batch, n_out) against targets T and labels y; z, the
    output layer's pre-activation, is what cross-entropy's value is computed from (losses.py)."""
    return float(loss.fn(a, T, z).mean()), float((predict_labels(a) == y).mean())


def evaluate(model, loss, X, T, y, forward=None):
    """Mean loss and accuracy on a split; (nan, nan) for an empty split. `forward`: the (zs, As) of
    model.forward(X), when already computed (a population computes its members' at once)."""
    if len(X) == 0:
        return math.nan, math.nan
    zs, As = forward or model.forward(X)  # what predict() computes, keeping the output's z
    return scores(loss, As[-1], T, y, zs[-1])


def output_deltas(loss, zs, As, T, scale):
    """dL/dz at the output, and what the output layer sends back (None: the same), both times scale."""
    delta = loss.delta(zs[-1], As[-1], T)
    delta *= scale
    back = loss.back_delta(zs[-1], As[-1], T)  # None for every exact gradient
    if back is not None:
        back *= scale
    return delta, back


def probe_rows(n, size):
    """The fixed rows of the training set that gradient diagnostics use (None: all n): a random
    subset drawn with its own seed, so it is the same in every run and leaves the training RNG alone."""
    if size is None or size >= n:
        return None
    return np.sort(np.random.default_rng(0).choice(n, int(size), replace=False))


def _split_scores(loss, zs, As, T, y, split):
    """Loss, accuracy and mean |target - output| of a split from its forward pass (zs, As)."""
    out = dict(zip((f"{split}/loss", f"{split}/acc"), scores(loss, As[-1], T, y, zs[-1])))
    out[f"{split}/abs_err"] = float(np.abs(T - As[-1]).mean())  # mean |target - output|, Trask's "Error"
    return out


def diagnostics_due(n_evals_before, k, last):
    """Whether an evaluation gets the full per-layer diagnostics (trainer.diagnostics_every = k):
    the last one always; with k, also evaluations 0, k, 2k, ... (k = 1: every one)."""
    return last or (k is not None and n_evals_before % k == 0)


def diagnostics(model, loss, X, T, y, split="train", probe=None, forward=None, weight_grads=None):
    """Loss and accuracy on a split plus per-layer health, from one forward and one backward pass:
    gradient (of the mean loss) and weight norms and the gradient's std of each layer; for hidden
    layers the activations' std, their spread across units (a symmetry measure: 0 when all units
    are identical), the fraction of saturated (sigmoid/tanh) unit activations and the fraction of
    dead ReLU units (zero for every sample). `probe` (row indices, see probe_rows): the gradient
    is that of the mean loss over those rows only, and the activation statistics are those of
    those rows; loss, accuracy and dead units use the whole split. `forward` ((zs, As) of
    model.forward(X)) and `weight_grads` (the weight matrices' gradients on the probe), when given,
    are used instead of computing them (a population computes its members' at once)."""
    zs, As = forward or model.forward(X)
    out = _split_scores(loss, zs, As, T, y, split)
    gA = As if probe is None else [a[probe] for a in As]
    if weight_grads is None:
        gz, gT = (zs, T) if probe is None else ([z[probe] for z in zs], T[probe])
        delta, back = output_deltas(loss, gz, gA, gT, 1.0 / len(gT))
        grads = dict(zip((name for name, _ in model.params()), model.backward(gz, gA, delta, back)))
        weight_grads = [grads[f"W{l + 1}"] for l in range(len(model.W))]
    for l, W in enumerate(model.W):
        key = f"layer{l + 1}"
        out[f"{key}/grad_norm"] = float(np.linalg.norm(weight_grads[l]))
        out[f"{key}/weight_norm"] = float(np.linalg.norm(W))
        out[f"{key}/grad_std"] = float(weight_grads[l].std())  # Glorot & Bengio's view, with act_std
        if l == len(model.W) - 1:
            continue  # output layer: no hidden-unit diagnostics
        act, a = model.acts[l], gA[l + 1]
        out[f"{key}/act_std"] = float(a.std())
        # 0 when every unit computes the same: measured against the first unit, so identical units give
        # exactly 0 (a plain std rounds the mean and reports ~1e-16)
        out[f"{key}/unit_spread"] = float((a - a[:, :1]).std(axis=1).mean())
        if act.saturates:
            out[f"{key}/saturated_frac"] = float(act.saturated(a).mean())
        if act.can_die:  # dead: zero for every sample of the split, so all of them
            out[f"{key}/dead_frac"] = float((As[l + 1] <= 0).all(axis=0).mean())
    return out


def schedule(cfg, n, loss):
    """The loop's plan for n training rows: batch size, steps per epoch, total steps, evaluation
    interval (and whether it is per epoch), repeats per batch, the loss scale (None: 1/len(batch))
    and the probe rows. Shared by train() and the population trainer (population.py)."""
    B = n if cfg.get("batch_size") is None else min(int(cfg["batch_size"]), n)
    steps_per_epoch = math.ceil(n / B)
    total = int(cfg["steps"]) if cfg.get("steps") else int(cfg["epochs"]) * steps_per_epoch
    return {"B": B, "steps_per_epoch": steps_per_epoch, "total": total,
            "eval_every": int(cfg.get("eval_every") or steps_per_epoch), "per_epoch": not cfg.get("eval_every"),
            "repeat": int(cfg.get("repeat", 1)), "scale": 1.0 if loss.reduction == "sum" else None,
            "probe": probe_rows(n, cfg.get("probe")),
            "diagnostics_every": None if cfg.get("diagnostics_every") is None else int(cfg.get("diagnostics_every"))}


def measure(model, loss, data, probe, step, steps_per_epoch, full=True, forwards=None, weight_grads=None):
    """One evaluation's metrics (progress, train loss and accuracy, val and test), without the
    timings; with `full`, the per-layer diagnostics too (and always when the training loss is not
    finite: a diverged run's last evaluation). `forwards` ({split: (zs, As)}) and `weight_grads`:
    see diagnostics()."""
    forwards = forwards or {}
    X, T, y = data["train"]
    m = {"progress/epoch": step / steps_per_epoch, "progress/steps": float(step)}
    fwd = forwards.get("train")
    if full:
        m.update(diagnostics(model, loss, X, T, y, probe=probe, forward=fwd, weight_grads=weight_grads))
    else:
        zs, As = fwd or model.forward(X)
        m.update(_split_scores(loss, zs, As, T, y, "train"))  # train/loss, train/acc, train/abs_err
        if not math.isfinite(m["train/loss"]):  # diverged: this is the last evaluation, so a full one
            m.update(diagnostics(model, loss, X, T, y, probe=probe, forward=(zs, As)))
    for split in ("val", "test"):
        m[f"{split}/loss"], m[f"{split}/acc"] = evaluate(model, loss, *data[split], forward=forwards.get(split))
    return m


def train(model, loss, opt, data, cfg, rng, *, callback=None, progress=False, resume=None):
    """Train `model` in place. `data`: dict split -> (X, T, y) for train/val/test.

    `cfg` (trainer config): epochs, steps (overrides epochs when set), batch_size (None =
    full batch), replacement, shuffle, repeat, eval_every (None = every epoch), probe (rows for
    the gradient diagnostics, None = all), diagnostics_every (None = the per-layer diagnostics at the
    last evaluation only, k = also at every k-th, 1 = at every one; the others report the splits'
    loss and accuracy and train/abs_err, see diagnostics_due). The batch
    loss is the mean of the samples' losses, or their sum when `loss.reduction == "sum"`.
    Returns {"final": metrics, "best": {...}, "diverged": bool, "history": [...], ...}.

    A KeyboardInterrupt (Ctrl-C, or SIGTERM through the CLI) leaves with `.checkpoint` set: the
    state at the last evaluation (checkpoint.Checkpoint). `resume`, such a checkpoint from a run
    with the same config, continues training from it: the same steps, batches and numbers as if
    it had never stopped.
    """
    from .checkpoint import Checkpoint

    X, T, y = data["train"]
    n = len(X)
    plan = schedule(cfg, n, loss)
    B, steps_per_epoch, total, eval_every, per_epoch, repeat, scale, probe = (
        plan[k] for k in ("B", "steps_per_epoch", "total", "eval_every", "per_epoch", "repeat", "scale", "probe"))
    diag_every = plan["diagnostics_every"]

    history, best = [], {"val/acc": -math.inf, "epoch": 0.0}
    train_time, interval_time, interval_steps = 0.0, 0.0, 0

    def record(step):
        m = measure(model, loss, data, probe, step, steps_per_epoch, diagnostics_due(len(history), diag_every, step >= total))
        epoch = m["progress/epoch"]
        if interval_steps:
            m["time/step_ms"] = 1000 * interval_time / interval_steps
        m["time/train_s"] = train_time
        history.append(m)
        if m["val/acc"] > best["val/acc"]:
            best.update({"val/acc": m["val/acc"], "epoch": epoch})
        if callback is not None:
            callback(m, round(epoch) if per_epoch else step)
        return m

    if progress:  # tqdm.auto (a notebook widget or a terminal bar) costs ~60 ms to import: only when shown
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="step", disable=None, leave=False)  # None: off when not a terminal
    else:
        bar = None

    def snapshot():
        velocity = getattr(opt, "velocity", None)
        return Checkpoint(step=step, pos=pos, rng_state=rng.bit_generator.state, perm=perm, history=list(history),
                          params={name: p.copy() for name, p in model.params()}, best=dict(best),
                          velocity=None if velocity is None else [v.copy() for v in velocity], train_time=train_time)

    started_at = time.time()  # the first training step
    diverged_at, step, pos, perm = None, 0, n, None
    if resume is None:
        metrics = record(0)
    else:  # the state of the interrupted run at its last evaluation
        for (_, p), saved in zip(model.params(), resume.params.values()):
            p[...] = saved
        for v, saved in zip(getattr(opt, "velocity", None) or [], resume.velocity or []):
            v[...] = saved
        rng.bit_generator.state = resume.rng_state
        step, pos, perm, train_time = resume.step, resume.pos, resume.perm, resume.train_time
        history[:], best = list(resume.history), dict(resume.best)
        metrics = history[-1]
        if bar is not None:
            bar.update(step)
    order_X, order_T = (X, T) if perm is None else (X[perm], T[perm])
    last = snapshot()
    try:
        with np.errstate(over="ignore", invalid="ignore"), bar or contextlib.nullcontext():
            while step < total and diverged_at is None:
                tic = time.perf_counter()
                if cfg.get("replacement"):
                    idx = rng.integers(0, n, size=B)
                    xb, tb = X[idx], T[idx]
                else:
                    if pos >= n:  # new epoch: one contiguous shuffled copy, then slices
                        if cfg.get("shuffle", True) and B < n:
                            perm = rng.permutation(n)
                            order_X, order_T = X[perm], T[perm]
                        pos = 0
                    xb, tb = order_X[pos:pos + B], order_T[pos:pos + B]
                    pos += B
                s = scale if scale is not None else 1.0 / len(xb)
                for _ in range(repeat):
                    zs, As = model.forward(xb)
                    deltas = output_deltas(loss, zs, As, tb, s)
                    if getattr(opt, "fused", False):
                        model.backward(zs, As, *deltas, opt=opt)  # each update applied as its gradient is known
                    else:
                        opt.step(model.backward(zs, As, *deltas))
                step += 1
                dt = time.perf_counter() - tic
                train_time += dt
                interval_time += dt
                interval_steps += 1
                if step % eval_every == 0 or step == total:
                    metrics = record(step)
                    last = snapshot()
                    interval_time, interval_steps = 0.0, 0
                    if bar is not None:
                        bar.update(step - bar.n)
                        bar.set_postfix({"val/acc": f"{metrics['val/acc']:.3f}"}, refresh=False)
                    if not math.isfinite(metrics["train/loss"]):
                        diverged_at = metrics["progress/epoch"]

    except KeyboardInterrupt as e:
        e.checkpoint = last  # the state at the last evaluation: the caller saves it
        raise

    return {
        "final": metrics,
        "best": best,
        "diverged": diverged_at is not None,
        "diverged_at_epoch": diverged_at,
        "steps": step,
        "train_time_s": train_time,
        "started_at": started_at,
        "history": history,
    }
