"""Populations: P networks of one shape trained as one, member by member the same bits as alone.

The members' weights are stacked on a leading axis, W[l] of shape (P, n_in, n_out), so each numpy
call of a step does the work of P networks (numpy's stacked matmul calls the same BLAS kernel for
each member as the 2-D product of a single network: the same bits, tested). Each member keeps what
makes its run its own: its initial weights (drawn by its own MLP), its shuffling RNG and so its own
batches, its learning rate, momentum and weight decay, its evaluations, its divergence (a diverged
member stops, the others go on) and its callback (a search may prune one member). The loop is
train.train's, step for step; `same_shape` says which jobs can share a population.

Members are MLP objects whose arrays are views into the stacked ones, so the trainer's own
diagnostics() and evaluate() measure each member exactly as they measure a network trained alone,
and a member's checkpoint is a single run's checkpoint (resume continues it alone).
"""
from __future__ import annotations

import math
import time

from .model import MLP
from .errors import RunStopped
from .train import diagnostics_due, measure, output_deltas, schedule
from .xp import errstate, namespace


EVAL_BYTES = 16 << 20  # the activations of one layer over a split, for the members evaluated at once


class Population:
    """Stacked parameters and optimiser state of `models` (MLPs of one shape), trained with the
    SGD settings of `opts` (their lr, momentum, weight decay; all with or all without momentum,
    all with or all without weight decay)."""

    def __init__(self, models, opts):
        m0 = models[0]
        self.members, self.acts, self.dtype = list(models), m0.acts, m0.dtype
        self.xp = xp = namespace(m0.W[0])  # the members' array module
        L = len(m0.W)
        self.W = [xp.stack([m.W[l] for m in models]) for l in range(L)]
        self.b = [None if m0.b[l] is None else xp.stack([m.b[l] for m in models])[:, None, :] for l in range(L)]
        self.alpha = [None if m0.alpha[l] is None else xp.stack([m.alpha[l] for m in models])[:, None, :]
                      for l in range(L)]
        col = lambda v: xp.asarray(v, dtype=self.dtype)[:, None, None]  # noqa: E731  one value per member
        self.lr = col([o.lr for o in opts])
        self.momentum = col([o.momentum for o in opts]) if opts[0].momentum else None
        self.weight_decay = col([o.weight_decay for o in opts]) if opts[0].weight_decay > 0 else None
        # velocity and gradient buffers per parameter, (W, b, alpha) per layer
        self.velocity = [[None if p is None else xp.zeros_like(p) for p in (W, b, a)] if self.momentum is not None
                         else [None, None, None] for W, b, a in zip(self.W, self.b, self.alpha)]
        self.buffers = [xp.empty_like(W) for W in self.W]
        self._bind()

    def __len__(self):
        return len(self.members)

    def view(self, lo, hi):
        """Members lo..hi-1 as a population sharing these arrays (for forward and weight_grads)."""
        part = object.__new__(Population)
        part.acts, part.dtype, part.xp = self.acts, self.dtype, self.xp
        part.W = [W[lo:hi] for W in self.W]
        part.b = [None if b is None else b[lo:hi] for b in self.b]
        part.alpha = [None if a is None else a[lo:hi] for a in self.alpha]
        return part

    def _bind(self):
        """Point every member's arrays at its slice of the stacked ones."""
        for p, m in enumerate(self.members):
            for l in range(len(self.W)):
                m.W[l] = self.W[l][p]
                if self.b[l] is not None:
                    m.b[l] = self.b[l][p, 0]
                if self.alpha[l] is not None:
                    m.alpha[l] = self.alpha[l][p, 0]

    def keep(self, index):
        """Go on with the members at `index` only (the others stopped); their numbers are unchanged."""
        xp = self.xp
        index = xp.asarray(index, dtype=xp.intp)
        pick = lambda a: None if a is None else xp.ascontiguousarray(a[index])  # noqa: E731
        self.W, self.b, self.alpha = [pick(a) for a in self.W], [pick(a) for a in self.b], [pick(a) for a in self.alpha]
        self.lr, self.momentum, self.weight_decay = pick(self.lr), pick(self.momentum), pick(self.weight_decay)
        self.velocity = [[pick(v) for v in layer] for layer in self.velocity]
        self.buffers = [xp.empty_like(W) for W in self.W]
        self.members = [self.members[i] for i in index]
        self._bind()

    def member_velocity(self, p):
        """Member p's velocity in params() order (as SGD.velocity), or None without momentum."""
        if self.momentum is None:
            return None
        return [(v[p] if i == 0 else v[p, 0]).copy() for layer in self.velocity for i, v in enumerate(layer)
                if v is not None]

    # --- the maths: MLP.forward / MLP.backward / SGD.apply with a leading member axis --------------
    # MLP's forward pass is written for any leading shape (`@` and the activations broadcast): X
    # (P, batch, n_in) gives zs, As each (P, batch, n), with the members' stacked W, b and alpha.
    _act = MLP._act
    forward = MLP.forward

    def _apply(self, l, i, p, g):
        """SGD.apply on parameter p (i: 0 W, 1 b, 2 alpha of layer l), g fresh and scaled in place."""
        if i == 0 and self.weight_decay is not None:
            g += self.weight_decay * p
        if self.momentum is None:
            g *= self.lr
            p -= g
        else:
            v = self.velocity[l][i]
            v *= self.momentum
            v -= self.lr * g
            p += v

    def backward_step(self, zs, As, delta, back=None):
        """MLP.backward with the fused update (opt=SGD): every gradient applied as soon as known."""
        self._backprop(zs, As, delta, back, update=True)

    def weight_grads(self, zs, As, delta, back=None):
        """The weight matrices' gradients, (P, n_in, n_out) per layer, nothing updated: what
        MLP.backward returns for them (diagnostics)."""
        return self._backprop(zs, As, delta, back, update=False)

    def _backprop(self, zs, As, delta, back, update):
        dZ, dA = delta, None
        sent = delta if back is None else back
        grads = [None] * len(self.W)
        for l in range(len(self.W) - 1, -1, -1):
            dA_below = None
            if l > 0:  # with W_l as it was in the forward pass
                dA_below = (sent if l == len(self.W) - 1 else dZ) @ self.W[l].transpose(0, 2, 1)
            if not update:
                grads[l] = As[l].transpose(0, 2, 1) @ dZ
            else:
                g = self.buffers[l]
                self.xp.matmul(As[l].transpose(0, 2, 1), dZ, out=g)
                self._apply(l, 0, self.W[l], g)
                if self.b[l] is not None:
                    self._apply(l, 1, self.b[l], dZ.sum(axis=1, keepdims=True))
                if self.alpha[l] is not None:
                    self._apply(l, 2, self.alpha[l], (dA * self.xp.minimum(zs[l], 0)).sum(axis=1, keepdims=True))
            if l > 0:
                dA = dA_below
                act, z, a = self.acts[l - 1], zs[l - 1], As[l]
                gr = act.grad(z, a, self.alpha[l - 1]) if self.alpha[l - 1] is not None else act.grad(z, a)
                dZ = dA * gr
        return grads


def stacked_deltas(loss, z, a, t, scale):
    """train.output_deltas on stacked (P, batch, n_out) outputs: the loss works row by row, so on
    the (P·batch, n_out) view it gives each member's rows exactly; reshaped back."""
    shape = z.shape
    flat = lambda x: x.reshape(-1, shape[-1])  # noqa: E731
    delta, back = output_deltas(loss, [flat(z)], [flat(a)], flat(t), scale)
    return delta.reshape(shape), None if back is None else back.reshape(shape)


def same_shape(cfg) -> tuple:
    """What jobs must share to be trained as one population: everything but the seed, the learning
    rate, momentum and weight decay values, the initialiser and the tracking. (Whether momentum and
    weight decay are used at all is shared too: a member without them takes SGD's plain path.)"""
    from omegaconf import OmegaConf

    c = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    for key in ("seed", "objective", "tracking"):
        c.pop(key, None)
    optim = c.get("optim", {})
    c["optim"] = {"uses_momentum": bool(optim.get("momentum")), "uses_decay": bool(optim.get("weight_decay")),
                  **{k: v for k, v in optim.items() if k not in ("lr", "momentum", "weight_decay")}}
    c.pop("init", None)  # each member draws its own weights (and bias start values) as it would alone
    trainer = dict(c.get("trainer", {}))
    for key in ("progress", "threads"):
        trainer.pop(key, None)
    c["trainer"] = trainer
    return tuple(sorted((k, repr(v)) for k, v in c.items()))


def eligible(cfg) -> bool:
    """A job that can join a population: nothing the population trainer does not do the same way."""
    return not cfg.trainer.get("resume")  # a resumed job continues its checkpoint alone


def train_population(models, losses, opts, datas, cfg, rngs, *, callbacks=None):
    """Train P members in place, as train.train trains each alone. `models`, `losses`, `opts`,
    `datas` ({split: (X, T, y)}), `rngs` (shuffling generators) and `callbacks` are per member;
    `cfg` is the trainer config they share. Returns one entry per member: train()'s result dict, or
    the exception that stopped it (RunStopped from its callback, KeyboardInterrupt with .checkpoint)."""
    from .checkpoint import Checkpoint

    P = len(models)
    callbacks = callbacks or [None] * P
    n = len(datas[0]["train"][0])
    plan = schedule(cfg, n, losses[0])
    B, steps_per_epoch, total, eval_every, per_epoch, repeat, scale, probe = (
        plan[k] for k in ("B", "steps_per_epoch", "total", "eval_every", "per_epoch", "repeat", "scale", "probe"))
    loss = losses[0]
    pop = Population(models, opts)
    xp = pop.xp
    Xs = xp.stack([d["train"][0] for d in datas])  # (P, n, d): each member's own training rows
    Ts = xp.stack([d["train"][1] for d in datas])
    order_X, order_T = Xs.copy(), Ts.copy()       # this epoch's order, per member
    splits = {split: xp.stack([d[split][0] for d in datas]) for split in ("val", "test")}  # (P, n_split, d)
    alive = list(range(P))                          # members still training, in stacked order
    results, histories = [None] * P, [[] for _ in range(P)]
    bests = [{"val/acc": -math.inf, "epoch": 0.0} for _ in range(P)]
    perms = [None] * P
    train_time, interval_time, interval_steps = 0.0, 0.0, 0
    step, pos = 0, n
    snapshots = [None] * P

    def snapshot(k, p):
        m = models[k]
        return Checkpoint(step=step, pos=pos, rng_state=rngs[k].bit_generator.state, perm=perms[k],
                          history=list(histories[k]), params={name: a.copy() for name, a in m.params()},
                          best=dict(bests[k]), velocity=pop.member_velocity(p), train_time=share())

    def share():  # a member's part of the population's training time
        return train_time / P

    def finish(k, diverged_at=None):
        results[k] = {"final": histories[k][-1], "best": bests[k], "diverged": diverged_at is not None,
                      "diverged_at_epoch": diverged_at, "steps": step, "train_time_s": share(),
                      "started_at": started_at, "history": histories[k], "population": P}

    def stacked_evaluation(full):
        """The members' forward passes on every split and (`full`) weight gradients on the probe,
        for member p on demand: members are evaluated a chunk at a time, so that a chunk's
        activations stay within EVAL_BYTES (a whole population of big networks on a big split would
        stream through memory, slower than the members one by one)."""
        rows = max([Xs.shape[1]] + [splits[s].shape[1] for s in ("val", "test")])
        per_member = rows * max(W.shape[-1] for W in pop.W) * pop.dtype.itemsize
        size = max(1, EVAL_BYTES // max(per_member, 1))
        cache = {}

        def chunk(lo):
            part = pop.view(lo, lo + size)
            fwd = {"train": part.forward(Xs[lo:lo + size])}
            for split in ("val", "test"):
                if splits[split].shape[1]:
                    fwd[split] = part.forward(splits[split][lo:lo + size])
            if not full:
                return fwd, None
            zs, As = fwd["train"]
            T = Ts[lo:lo + size]
            if probe is None:
                gz, gA, gT = zs, As, T
            else:
                gz, gA, gT = [z[:, probe] for z in zs], [a[:, probe] for a in As], T[:, probe]
            return fwd, part.weight_grads(gz, gA, *stacked_deltas(loss, gz[-1], gA[-1], gT, 1.0 / gT.shape[1]))

        def of_member(p):
            lo = p - p % size
            if lo not in cache:
                cache.clear()  # members are visited in order: one chunk alive at a time
                cache[lo] = chunk(lo)
            fwd, grads = cache[lo]
            q = p - lo
            return ({s: ([z[q] for z in f[0]], [a[q] for a in f[1]]) for s, f in fwd.items()},
                    None if grads is None else [g[q] for g in grads])
        return of_member

    def record():
        nonlocal order_X, order_T, Xs, Ts
        stopped = []
        full = diagnostics_due(len(histories[alive[0]]), plan["diagnostics_every"], step >= total)
        of_member = stacked_evaluation(full)
        for p, k in enumerate(alive):
            forwards, wgrads = of_member(p)
            m = measure(models[k], losses[k], datas[k], probe, step, steps_per_epoch, full, forwards, wgrads)
            if interval_steps:
                m["time/step_ms"] = 1000 * interval_time / interval_steps / len(alive)
            m["time/train_s"] = share()
            histories[k].append(m)
            if m["val/acc"] > bests[k]["val/acc"]:
                bests[k].update({"val/acc": m["val/acc"], "epoch": m["progress/epoch"]})
            try:
                if callbacks[k] is not None:
                    callbacks[k](m, round(m["progress/epoch"]) if per_epoch else step)
            except RunStopped as e:
                results[k] = e
                stopped.append(p)
                continue
            snapshots[k] = snapshot(k, p)
            if step > 0 and not math.isfinite(m["train/loss"]):
                finish(k, m["progress/epoch"])
                stopped.append(p)
            elif step == total:
                finish(k)
        if stopped:
            keep = [p for p in range(len(alive)) if p not in stopped]
            pop.keep(keep)
            alive[:] = [alive[p] for p in keep]
            Xs, Ts, order_X, order_T = Xs[keep], Ts[keep], order_X[keep], order_T[keep]
            for split in ("val", "test"):
                splits[split] = splits[split][keep]

    started_at = time.time()
    record()
    try:
        with errstate(xp, over="ignore", invalid="ignore"):
            while step < total and alive:
                tic = time.perf_counter()
                if cfg.get("replacement"):
                    idx = xp.stack([xp.asarray(rngs[k].integers(0, n, size=B)) for k in alive])  # host RNGs
                    xb = xp.take_along_axis(Xs, idx[:, :, None], axis=1)
                    tb = xp.take_along_axis(Ts, idx[:, :, None], axis=1)
                else:
                    if pos >= n:
                        if cfg.get("shuffle", True) and B < n:
                            for p, k in enumerate(alive):
                                perms[k] = rngs[k].permutation(n)
                                xp.take(Xs[p], xp.asarray(perms[k]), axis=0, out=order_X[p])
                                xp.take(Ts[p], xp.asarray(perms[k]), axis=0, out=order_T[p])
                        pos = 0
                    xb, tb = order_X[:, pos:pos + B], order_T[:, pos:pos + B]
                    pos += B
                s = scale if scale is not None else 1.0 / xb.shape[1]
                for _ in range(repeat):
                    zs, As = pop.forward(xb)
                    pop.backward_step(zs, As, *stacked_deltas(loss, zs[-1], As[-1], tb, s))
                step += 1
                dt = time.perf_counter() - tic
                train_time += dt
                interval_time += dt
                interval_steps += 1
                if step % eval_every == 0 or step == total:
                    record()
                    interval_time, interval_steps = 0.0, 0
    except KeyboardInterrupt as e:
        for k in alive:
            stop = KeyboardInterrupt(*e.args)
            stop.checkpoint = snapshots[k]
            results[k] = stop
    return results

