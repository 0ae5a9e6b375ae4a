"""The search space and settings: Hydra's Optuna-sweeper syntax parsed into Optuna distributions,
the `search` block validated, samplers and pruners by name."""
from __future__ import annotations

from ..errors import ConfigError

DEFAULT_STORAGE = "sqlite:///optuna.db"
COUNTED = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


# --- the search space ----------------------------------------------------------------------------
def parse_space(params) -> dict:
    """{key: (kind, spec)} from {key: "choice(...)" | "interval(a, b)" | "range(a, b, s)" | ...}.

    kind is "categorical" (spec: the override strings of the choices), "float" or "int"
    (spec: (low, high, step, log)). Empty or inverted ranges are refused with one line.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    parser, space = OverridesParser.create(), {}
    for key, expr in (params or {}).items():
        name = f"search.params.{key}"
        try:
            override = parser.parse_override(f"{key}={expr}")
        except HydraException as e:
            raise ConfigError(name, f"cannot parse {expr!r} ({str(e).splitlines()[0]}); allowed: choice(a, b, ...), "
                              "interval(low, high), range(start, stop, step), tag(log, interval(...)), int(...)") from e
        value = override.value()
        if isinstance(value, ChoiceSweep):
            choices = list(override.sweep_string_iterator())
            if not choices:
                raise ConfigError(name, "choice() is empty; give at least one value")
            space[key] = ("categorical", choices)
        elif isinstance(value, IntervalSweep):
            low, high, log = value.start, value.end, "log" in value.tags
            if not low < high or (log and low <= 0):
                raise ConfigError(name, f"interval({low}, {high}) is empty" + (" or not positive (log)" if log else "")
                                  + "; allowed: low < high" + (", low > 0" if log else ""))
            ints = isinstance(low, int) and isinstance(high, int)
            space[key] = ("int" if ints else "float", (low, high, None, log))
        elif isinstance(value, RangeSweep):
            values = list(override.sweep_string_iterator())
            if not values:
                raise ConfigError(name, f"{expr} holds no value; allowed: range(start, stop, step) with start < stop")
            space[key] = ("categorical", values)
        else:
            raise ConfigError(name, f"{expr!r} is a single value, not a search space; allowed: choice(...), "
                              "interval(...), range(...)")
    if not space:
        raise ConfigError("search.params", "the search space is empty; declare at least one key")
    return space


def suggest(trial, space) -> list[str]:
    """The trial's values as Hydra override strings."""
    out = []
    for key, (kind, spec) in space.items():
        if kind == "categorical":
            value = trial.suggest_categorical(key, spec)
        elif kind == "int":
            value = trial.suggest_int(key, spec[0], spec[1], log=spec[3])
        else:
            value = trial.suggest_float(key, spec[0], spec[1], log=spec[3])
        out.append(f"{key}={value}")
    return out


def validate_search(s) -> dict:
    """Check a `search` block; returns the parsed space."""
    from ..config import OBJECTIVES, _check, _choice, _int  # the same one-line checks as every group

    _choice(s, "metric", OBJECTIVES, "search.metric")
    _choice(s, "direction", ["maximize", "minimize"], "search.direction")
    _int(s, "n_trials", 1, name="search.n_trials")
    _int(s, "workers", 1, name="search.workers")
    if s.get("batch") is not None:
        _int(s, "batch", 1, name="search.batch")
    _int(s, "seed", 0, name="search.seed")
    _int(s, "heartbeat", 1, name="search.heartbeat")
    _choice(s, "sampler", list(SAMPLERS), "search.sampler")
    _choice(s, "pruner", list(PRUNERS), "search.pruner")
    _check(isinstance(s.get("name"), str) and s.name.strip() != "", "search.name", s.get("name"), "a non-empty name")
    storage = s.get("storage") or DEFAULT_STORAGE
    _check(isinstance(storage, str) and storage.split(":", 1)[0].split("+")[0] in ("sqlite", "postgresql", "mysql"),
           "search.storage", storage, "null (sqlite:///optuna.db), sqlite:///FILE or postgresql://USER@HOST/DB")
    return parse_space(s.params)


def trial_seeded(make, seed: int):
    """A sampler whose random draws for trial n come from the stream (seed, n).

    Every worker process, on this machine or another, builds its sampler from the same
    `search.seed`; seeded once per process, their samplers would draw the same numbers and the
    workers would run the same trials (and a resumed study would repeat its first ones). Trial
    numbers are unique in a study, so seeding each trial's draws from (seed, number) keeps them
    apart, while a one-worker study stays reproducible: its trial n sees the same history and draws
    the same numbers every time."""
    import numpy as np
    from optuna.samplers import BaseSampler

    class TrialSeeded(BaseSampler):
        def __init__(self):
            self._inner = make(seed=seed)

        def __str__(self):
            return f"{type(self._inner).__name__}(seed={seed}, reseeded per trial)"

        def before_trial(self, study, trial):
            self._inner = make(seed=int(np.random.SeedSequence([seed, trial.number]).generate_state(1)[0]))
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self):
            self._inner.reseed_rng()

    return TrialSeeded()


SAMPLERS = {
    "tpe": lambda seed: trial_seeded(__import__("optuna").samplers.TPESampler, seed),
    "random": lambda seed: trial_seeded(__import__("optuna").samplers.RandomSampler, seed),
    # QMC coordinates its sequence through the storage: every worker must share the one seed
    "qmc": lambda seed: __import__("optuna").samplers.QMCSampler(seed=seed, scramble=True),
}
PRUNERS = {
    "median": lambda: __import__("optuna").pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "hyperband": lambda: __import__("optuna").pruners.HyperbandPruner(),
    "none": lambda: __import__("optuna").pruners.NopPruner(),
}
