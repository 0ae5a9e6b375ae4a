"""The array module is a parameter of the maths (nnexp/xp.py): the network code names no array
library, takes its module from its arrays, and gives the same bits through another module."""
from __future__ import annotations

import importlib
import types

import numpy as np
import pytest

from nnexp.experiment import prepare
from nnexp.optim import SGD
from nnexp.population import train_population
from nnexp.train import train

MATHS = ("nnexp.activations", "nnexp.losses", "nnexp.model", "nnexp.optim", "nnexp.population")


@pytest.mark.parametrize("name", MATHS)
def test_the_maths_modules_do_not_import_numpy(name):
    module = importlib.import_module(name)
    assert not [k for k, v in vars(module).items() if v is np and k != "DEFAULT"], f"{name} names numpy directly"


class Recorder(types.ModuleType):
    """An array module that is numpy underneath, recording every function the maths asks it for and
    handing back its own array type, as another array library would."""

    def __init__(self):
        super().__init__("recorder")
        self.used = set()

    def __getattr__(self, name):
        f = getattr(np, name)
        if isinstance(f, type) or not callable(f):
            return f
        self.used.add(name)

        def call(*args, **kwargs):
            out = f(*args, **kwargs)
            return out.view(Traced) if type(out) is np.ndarray else out
        return call


RECORDER = Recorder()


class Traced(np.ndarray):
    """numpy's array, but its array module is the recorder (results of numpy's ufuncs and operators on
    it stay Traced, so the module follows the arrays through the maths)."""

    def __array_namespace__(self, api_version=None):
        return RECORDER


def traced(model, cfg, data):
    """The prepared model, its optimiser and its data, as arrays of the recorder's module."""
    for arrays in (model.W, model.b, model.alpha):
        arrays[:] = [None if a is None else a.view(Traced) for a in arrays]
    opt = SGD(model.params(), cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.fused)
    return opt, {split: tuple(a.view(Traced) if a.dtype.kind == "f" else a for a in arrays)
                 for split, arrays in data.items()}


OVERRIDES = ["trainer.progress=false", "tracking=none", "model.hidden=[12,8]", "activation=prelu",
             "optim=momentum", "trainer.epochs=2", "trainer.batch_size=25"]


def test_a_training_through_another_array_module_gives_the_same_bits(compose_cfg):
    cfg = compose_cfg(*OVERRIDES)
    _, model, loss, data, opt, rng = prepare(cfg)
    plain = train(model, loss, opt, data, cfg.trainer, rng)
    _, other, loss2, data2, _, rng2 = prepare(cfg)
    RECORDER.used.clear()
    opt2, data2 = traced(other, cfg, data2)
    result = train(other, loss2, opt2, data2, cfg.trainer, rng2)
    assert all(type(a) is Traced for _, a in other.params())  # updated in place, in the other module
    assert {"matmul", "zeros_like", "where", "exp", "log1p", "minimum"} <= RECORDER.used  # PReLU, softmax CE, SGD
    for (name, a), (_, b) in zip(model.params(), other.params()):
        assert np.array_equal(a, np.asarray(b)), name
    assert [h["train/loss"] for h in plain["history"]] == [h["train/loss"] for h in result["history"]]


def test_a_population_takes_its_array_module_from_its_members(compose_cfg):
    cfgs = [compose_cfg(*OVERRIDES, f"seed={s}") for s in (0, 1)]
    plain = [prepare(c) for c in cfgs]
    res_plain = train_population([p[1] for p in plain], [p[2] for p in plain], [p[4] for p in plain],
                                 [p[3] for p in plain], cfgs[0].trainer, [p[5] for p in plain])
    other = [prepare(c) for c in cfgs]
    moved = [traced(p[1], c, p[3]) for p, c in zip(other, cfgs)]
    RECORDER.used.clear()  # what the population itself asks for
    res = train_population([p[1] for p in other], [p[2] for p in other], [m[0] for m in moved],
                           [m[1] for m in moved], cfgs[0].trainer, [p[5] for p in other])
    assert {"stack", "take", "matmul", "zeros_like", "minimum"} <= RECORDER.used
    for p, q, a, b in zip(plain, other, res_plain, res):
        for (name, x), (_, y) in zip(p[1].params(), q[1].params()):
            assert np.array_equal(x, np.asarray(y)), name
        assert [h["train/loss"] for h in a["history"]] == [h["train/loss"] for h in b["history"]]
