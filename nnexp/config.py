"""Validation of a composed config, before any data is loaded or any run is created.

Every problem is reported as one ConfigError line naming the key and what is allowed.
The allowed keys of each group are read from the group's own YAML options, so a misspelled
key (e.g. `+model.hiden=3` or a typo in a preset) is caught without repeating the schema here.
"""
from __future__ import annotations

import numbers
import re
from functools import lru_cache
from pathlib import Path

import yaml

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .errors import ConfigError
from .initializers import INITIALIZERS
from .losses import LOSSES

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("dataset", "model", "init", "activation", "loss", "optim", "trainer", "tracking")
TOP_LEVEL = {"seed", "objective", *GROUPS}
OBJECTIVES = [f"{s}/{m}" for s in ("train", "val", "test") for m in ("acc", "loss")]


@lru_cache(maxsize=None)
def group_keys(group: str) -> frozenset:
    """Every key that some option of `group` defines (conf/<group>/*.yaml). A global-package option
    (`search`) defines its group's keys under the group's name."""
    keys = set()
    for path in (CONF_DIR / group).glob("*.yaml"):
        options = yaml.safe_load(path.read_text()) or {}
        if isinstance(options.get(group), dict):
            options = options[group]
        keys |= set(options.keys()) - {"defaults"}
    return frozenset(keys)


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check(ok, key, value, allowed):
    if not ok:
        raise ConfigError(key, f"{value!r} is not allowed; expected {allowed}")


def _int(cfg, key, lo=None, optional=False, name=None):
    v = cfg.get(key)
    full = name or key
    if v is None and optional:
        return
    _check(_is_int(v) and (lo is None or v >= lo), full, v,
           f"an integer >= {lo}" + (" or null" if optional else "") if lo is not None else "an integer")


def _num(cfg, key, lo=None, hi=None, lo_open=False, name=None):
    v = cfg.get(key)
    ok = _is_num(v) and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or v < hi)
    bounds = " ".join(filter(None, [f"{'>' if lo_open else '>='} {lo}" if lo is not None else "",
                                    f"and < {hi}" if hi is not None else ""]))
    _check(ok, name or key, v, f"a number {bounds}".strip())


def _choice(cfg, key, allowed, name):
    v = cfg.get(key)
    _check(v in allowed, name, v, "one of: " + ", ".join(map(str, allowed)))


def _bool(cfg, key, name):
    _check(isinstance(cfg.get(key), bool), name, cfg.get(key), "true or false")


def validate(cfg) -> None:
    """Raise ConfigError for the first bad key or value in a composed nnexp config."""
    for key in cfg:
        if key not in TOP_LEVEL and key != "hydra":
            raise ConfigError(key, f"unknown top-level key; allowed: {', '.join(sorted(TOP_LEVEL))}")
    for group in GROUPS:
        if group not in cfg:
            raise ConfigError(group, "missing config group")
        if not hasattr(cfg[group], "keys"):
            raise ConfigError(group, f"{cfg[group]!r} is a value, not the group's settings (a config without "
                              f"the {group} group, e.g. a search's best config: set {group}.KEY=VALUE instead)")
        unknown = set(cfg[group]) - group_keys(group)
        if unknown:
            raise ConfigError(f"{group}.{sorted(unknown)[0]}",
                              f"unknown key; {group} has: {', '.join(sorted(group_keys(group)))}")
    _int(cfg, "seed", 0)
    _choice(cfg, "objective", OBJECTIVES, "objective")

    m = cfg.model
    hidden = m.get("hidden")
    _check(hidden is not None and not isinstance(hidden, (str, bytes)) and hasattr(hidden, "__len__"),
           "model.hidden", hidden, "a list of positive integer widths, e.g. [64] or [] for no hidden layer")
    for i, w in enumerate(hidden):
        _check(_is_int(w) and w > 0, f"model.hidden[{i}]", w, "a positive integer width")
    _int(m, "budget", 1, optional=True, name="model.budget")
    _int(m, "depth", 1, optional=True, name="model.depth")
    if (m.get("budget") is None) != (m.get("depth") is None):
        raise ConfigError("model.budget", "budget and depth go together: set both (widths matched to the "
                          "budget) or neither (widths from model.hidden)")
    _choice(m, "output", list(OUTPUT_ACTIVATIONS), "model.output")
    _int(m, "outputs", 1, optional=True, name="model.outputs")
    _bool(m, "bias", "model.bias")
    _choice(m, "dtype", ["float32", "float64"], "model.dtype")
    if m.output == "softmax" and m.get("outputs") == 1:
        raise ConfigError("model.outputs", "softmax over 1 unit is always 1; use model.output=sigmoid or outputs >= 2")

    _choice(cfg.init, "scheme", list(INITIALIZERS), "init.scheme")
    _num(cfg.init, "bias", name="init.bias")
    if cfg.init.get("value") is not None:
        _num(cfg.init, "value", name="init.value")
    _choice(cfg.activation, "name", list(HIDDEN_ACTIVATIONS), "activation.name")
    if "slope" in cfg.activation:
        _num(cfg.activation, "slope", 0, name="activation.slope")

    _choice(cfg.loss, "name", list(LOSSES), "loss.name")
    allowed = LOSSES[cfg.loss.name].allowed_outputs
    if m.output not in allowed:
        raise ConfigError("model.output", f"{m.output!r} output cannot be trained with loss={cfg.loss.name} "
                          f"(log of an unbounded output); allowed with this loss: {', '.join(allowed)}")
    _choice(cfg.loss, "reduction", ["mean", "sum"], "loss.reduction")
    t = cfg.loss.get("targets")
    _check(t is not None and len(t) == 2 and all(_is_num(x) for x in t) and t[0] < t[1],
           "loss.targets", t, "[low, high] with low < high, e.g. [0.0, 1.0] or [0.01, 0.99]")

    _num(cfg.optim, "lr", 0, lo_open=True, name="optim.lr")
    _num(cfg.optim, "momentum", 0, 1, name="optim.momentum")
    _num(cfg.optim, "weight_decay", 0, name="optim.weight_decay")
    _bool(cfg.optim, "fused", "optim.fused")

    tr = cfg.trainer
    _int(tr, "epochs", 1, name="trainer.epochs")
    _int(tr, "steps", 1, optional=True, name="trainer.steps")
    _int(tr, "batch_size", 1, optional=True, name="trainer.batch_size")
    _int(tr, "repeat", 1, name="trainer.repeat")
    _int(tr, "eval_every", 1, optional=True, name="trainer.eval_every")
    _int(tr, "probe", 1, optional=True, name="trainer.probe")
    _int(tr, "diagnostics_every", 1, optional=True, name="trainer.diagnostics_every")
    resume = tr.get("resume")
    _check(resume is None or (isinstance(resume, str) and re.fullmatch(r"[0-9a-f]{32}", resume)), "trainer.resume",
           resume, "null or the 32-hex-digit id of an interrupted MLflow run")
    _int(tr, "threads", 1, optional=True, name="trainer.threads")
    for key in ("replacement", "shuffle", "progress"):
        _bool(tr, key, f"trainer.{key}")

    _bool(cfg.tracking, "enabled", "tracking.enabled")
    _bool(cfg.tracking, "log_artifacts", "tracking.log_artifacts")
    curve = cfg.tracking.get("learning_curve")
    _check(curve is None or isinstance(curve, bool), "tracking.learning_curve", curve, "true, false or null")
    if cfg.tracking.get("enabled", True):
        _num(cfg.tracking, "flush_every", 0, name="tracking.flush_every")
    exp = cfg.tracking.get("experiment")
    _check(isinstance(exp, str) and exp.strip() != "", "tracking.experiment", exp, "a non-empty name")


def validate_with_data(cfg, n_train: int, n_classes: int) -> int:
    """Checks that need the dataset; returns the number of output units."""
    outputs = cfg.model.get("outputs") or n_classes
    if outputs == 1 and n_classes != 2:
        raise ConfigError("model.outputs", f"1 output unit needs 2 classes; the dataset has {n_classes}")
    if outputs != 1 and outputs != n_classes:
        raise ConfigError("model.outputs", f"{outputs} does not match the dataset's {n_classes} classes; "
                          f"allowed: null, {n_classes}" + (" or 1" if n_classes == 2 else ""))
    bs = cfg.trainer.get("batch_size")
    if bs is not None and bs > n_train:
        raise ConfigError("trainer.batch_size", f"{bs} is larger than the {n_train} training samples; "
                          f"allowed: 1..{n_train} or null (full batch)")
    return outputs
