"""Reading a `dataset` config group: defaults, unknown keys, typed checks and the data seed.

Each loader declares its own defaults; `read_options` merges the config over them and rejects
keys the loader does not know, so a typo such as `dataset.nosie=0.2` fails loudly instead of
being ignored. Every check raises `ConfigError("dataset.<key>", ...)` with a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nnexp.config import _is_int  # one definition of "an integer, not a bool"
from nnexp.errors import ConfigError

# Keys every dataset config has: the registry name, the data seed and the validation fraction.
COMMON = {"name": None, "seed": None, "val_frac": 0.1}


def to_dict(cfg: Any) -> dict:
    """A plain dict from a dict or an OmegaConf DictConfig (lists become plain lists)."""
    if type(cfg).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(cfg, Mapping):
        raise ConfigError("dataset", f"expected a mapping of options, got {type(cfg).__name__}")
    return dict(cfg)


def read_options(cfg: Any, defaults: Mapping[str, Any]) -> dict:
    """Merge `cfg` over COMMON and `defaults`; an unknown key raises ConfigError listing the known."""
    allowed = {**COMMON, **defaults}
    given = to_dict(cfg)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(f"dataset.{unknown[0]}", f"unknown option for dataset {given.get('name')!r}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    opts = {**allowed, **given}
    opts["val_frac"] = fraction(opts, "val_frac", allow_zero=True)
    return opts


def integer(opts: Mapping, key: str, minimum: int, allow_none: bool = False) -> int | None:
    """opts[key] as an int >= minimum (or None when allowed)."""
    value = opts[key]
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < minimum:
        none = " or null" if allow_none else ""
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: an integer >= {minimum}{none}")
    return int(value)


def number(opts: Mapping, key: str, low: float, high: float) -> float:
    """opts[key] as a finite float in [low, high]."""
    value = opts[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low <= value <= high:
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: a number in [{low}, {high}]")
    return float(value)


def fraction(opts: Mapping, key: str, allow_zero: bool) -> float:
    """opts[key] as a fraction in [0, 1) (or (0, 1) when zero is not allowed)."""
    value = opts[key]
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.number))
          and math.isfinite(value) and (0 <= value if allow_zero else 0 < value) and value < 1)
    if not ok:
        low = "[0" if allow_zero else "(0"
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: a fraction in {low}, 1)")
    return float(value)


def choice(opts: Mapping, key: str, allowed: tuple[str, ...]) -> str:
    """opts[key] as one of the allowed strings."""
    value = opts[key]
    if value not in allowed:
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
    return value


def boolean(opts: Mapping, key: str) -> bool:
    """opts[key] as a bool (true/false in YAML)."""
    value = opts[key]
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: true or false")
    return bool(value)


def class_list(opts: Mapping, key: str = "classes") -> list[int] | None:
    """opts[key] as a non-empty list of distinct int labels, or None for all classes."""
    value = opts[key]
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or not value or not all(_is_int(c) for c in value)
            or len(set(value)) != len(value)):
        raise ConfigError(f"dataset.{key}", f"{value!r} is not allowed; allowed: null (all classes) "
                          "or a non-empty list of distinct integer labels, e.g. [0, 1]")
    return [int(c) for c in value]


def data_seed(opts: Mapping, run_seed: Any) -> int:
    """The seed the data uses: dataset.seed when set (fixes the data across runs), else the run seed."""
    key, value = ("dataset.seed", opts["seed"]) if opts["seed"] is not None else ("seed", run_seed)
    if not _is_int(value) or value < 0:
        raise ConfigError(key, f"{value!r} is not allowed; allowed: an integer >= 0")
    return int(value)


def generators(seed: int, n: int) -> list[np.random.Generator]:
    """n independent Generators from one seed, via SeedSequence.spawn; the global RNG is untouched."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n)]
