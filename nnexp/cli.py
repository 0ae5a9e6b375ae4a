"""The command line: `python -m nnexp [overrides]`, a Hydra app.

Before Hydra starts anything, `preflight` composes the config for every value of every sweep
and validates it, so a bad option, key or value stops the command with one line and a
non-zero exit, before any training and before any MLflow run exists.
"""
from __future__ import annotations

import math
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config import CONF_DIR, validate
from .errors import NnexpError

EXIT_BAD_INPUT = 2


def _one_line(exc, override=None) -> str:
    """Hydra's multi-line composition errors, said in one line."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(exc, MissingConfigException) and "/" in (exc.missing_cfg_file or ""):
        group, option = exc.missing_cfg_file.rsplit("/", 1)
        options = exc.options or sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        return f"{group}={option}: unknown option; available: {', '.join(options) or '(none)'}"
    if isinstance(exc, OverrideParseException):
        return f"{exc.override}: cannot parse this override ({exc.message.splitlines()[0]})"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0]
    if text.endswith("raised while composing config:") and len(lines) > 1:  # the reason is on the next lines
        full_key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), None)
        text = f"{full_key + ': ' if full_key else ''}{lines[1]} ({text.split(':')[0]})"
    cause = exc.__cause__
    if cause is not None and "not in struct" in str(cause):
        key = text.split("'")[1] if "'" in text else "?"
        group = key.split(".")[0]
        from .config import group_keys

        allowed = ", ".join(sorted(group_keys(group))) if (CONF_DIR / group).is_dir() else "see --cfg job"
        return f"{key}: unknown key; {group} has: {allowed} (prefix + to add a new key)"
    if cause is not None:
        text += f" ({str(cause).splitlines()[0]})"
    return text


def _plan(overrides, sweeper_params):
    """The command's overrides as (fixed override lines, sweeps: [(parsed override, [value lines])])."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(overrides))
    keys = {o.get_key_element() for o in parsed}
    parsed += [o for o in parser.parse_overrides([f"{k}={v}" for k, v in sweeper_params.items()])
               if o.get_key_element() not in keys]
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    for o in parsed:
        if o.is_sweep_override() and not (o.is_choice_sweep() or o.is_range_sweep()):
            raise NnexpError(f"{o.input_line}: an interval cannot be swept by a grid; for a search space quote it: "
                             f"'{o.get_key_element()}=\"{o.input_line.split('=', 1)[1]}\"' (choice(...) and "
                             "range(...) sweep as they are)")
    sweeps = [(o, [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
              for o in parsed if o.is_sweep_override()]
    return fixed, sweeps


def _variants(overrides, sweeper_params):
    """Override lists that together use every value of every sweep at least once."""
    fixed, sweeps = _plan(overrides, sweeper_params)
    first = [vals[0] for _, vals in sweeps]
    yield fixed + first
    for i, (_, vals) in enumerate(sweeps):
        for v in vals[1:]:
            yield fixed + first[:i] + [v] + first[i + 1:]


_preflighted: list = []  # the task overrides of the commands whose every job the pre-flight composed


def preflighted(config) -> bool:
    """Whether the pre-flight of this process composed every job of this multirun (nnexp's sweeper
    then does not compose them all once more, see hydra_plugins/nnexp_sweeper)."""
    return list(config.hydra.overrides.task) in _preflighted


def _task_overrides(overrides):
    """The overrides Hydra records as the task's (hydra.overrides.task): all but hydra's own."""
    return [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]


def preflight(argv) -> None:
    """Compose and validate every job the command would run; raise NnexpError on the first problem.

    Every combination of the values of the swept config groups (and other structural overrides:
    +key, ~key, hydra keys) is composed, as Hydra's sweeper would compose each job; every value of
    every sweep is validated once. A swept value of a plain key (seed=0,1,2 optim.lr=...) is set on
    a composed job instead of composing again (see compose.sets_a_value): a 30-job grid of values is one
    composition, not 30 (and Hydra's own sweeper check is then skipped, see `preflighted`)."""
    import itertools

    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from .compose import sets_a_value, with_value
    from .tracking import check_uri

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return  # Hydra answers these itself
    config_name = args.config_name or "config"
    config_dir = Path(args.config_path).resolve() if args.config_path else CONF_DIR  # e.g. a search's best config
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3", job_name="nnexp"):
            first = next(_variants(args.overrides, {}))
            cfg = compose(config_name, overrides=first, return_hydra_config=True)
            params = cfg.hydra.sweeper.get("params")
            params = OmegaConf.to_container(params, resolve=False) if params else {}
            if cfg.tracking.get("enabled", True):
                check_uri(cfg.tracking.get("uri"))
            if "search" in cfg:
                return _preflight_search(cfg, first)
            fixed, sweeps = _plan(args.overrides, params)
            firsts = [vals[0] for _, vals in sweeps]
            base = compose(config_name, overrides=fixed + firsts)
            keys = [o.key_or_group for o, _ in sweeps]
            plain = [sets_a_value(o, base, keys) for o, _ in sweeps]
            composed = {}  # the values of the structural sweeps -> their job, composed
            for combo in itertools.product(*[vals if not p else [vals[0]] for (_, vals), p in zip(sweeps, plain)]):
                composed[combo] = base if list(combo) == firsts else compose(config_name, overrides=fixed + list(combo))
            seen = set()
            _check_job(base, seen)
            for i, (_, vals) in enumerate(sweeps):
                for v in vals[1:]:
                    job = None
                    if plain[i]:
                        try:
                            job = with_value(base, v)
                        except Exception:
                            job = None  # composing it gives Hydra's own message
                    if job is None:
                        combo = tuple(v if j == i else f for j, f in enumerate(firsts))
                        job = composed[combo] if combo in composed else compose(config_name, overrides=fixed + list(combo))
                    _check_job(job, seen)
    except HydraException as e:
        raise NnexpError(_one_line(e)) from e
    if args.multirun:
        _preflighted.append(_task_overrides(args.overrides))


def _check_job(job, seen: set) -> None:
    """Validate one job's config and check its data are there (each distinct dataset once)."""
    from omegaconf import OmegaConf

    from .data import check_available

    validate(job)
    data = OmegaConf.to_yaml(job.dataset)
    if data not in seen:
        seen.add(data)
        check_available(job.dataset)


def _preflight_search(cfg, overrides):
    """A search: its settings, its space, and a trial config at every end of every range."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    from .search import validate_search

    def composed(extra=()):
        job = compose("config", overrides=[*overrides, *extra])
        with open_dict(job):
            job.pop("search")
        return job

    space = validate_search(cfg.search)
    jobs = [composed()]
    parse = OverridesParser.create().parse_override
    for key, (kind, spec) in space.items():
        for v in (spec if kind == "categorical" else spec[:2]):
            job = None
            if not isinstance(OmegaConf.select(jobs[0], key), DictConfig):  # not a group's node: a value,
                try:                                                       # set on a copy (~100x faster)
                    job = jobs[0].copy()
                    OmegaConf.update(job, key, parse(f"{key}={v}").value(), merge=False)
                except Exception:
                    job = None  # composing it gives Hydra's own message
            jobs.append(job if job is not None else composed([f"{key}={v}"]))  # a group option: compose it
    seen = set()
    for job in jobs:
        _check_job(job, seen)


def _summary(cfg, result, multirun):
    f = result["final"]
    line = (f"test/acc {f['test/acc']:.4f}  val/acc {f['val/acc']:.4f}  train/acc {f['train/acc']:.4f}  "
            f"train/loss {f['train/loss']:.4g}  ({result['steps']} steps, {result['train_time_s']:.1f} s training)")
    if result["diverged"]:
        line = f"DIVERGED at epoch {result['diverged_at_epoch']:g}: loss is not finite. " + line
    if multirun:
        print(f"[{cfg.tracking.experiment} job {result['job']}] {result['job_name'] or result['model']}: {line}")
        return
    print(f"{result['dataset']}\n{result['model']} ({result['n_params']:,} parameters)\n{line}")
    if result["run_id"]:
        from .tracking import ui_hint

        print(f"MLflow run {result['run_id']} in {result['tracking_uri']} (experiment '{cfg.tracking.experiment}')\n"
              f"  {ui_hint(result['tracking_uri'], result['experiment_id'])}")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .experiment import run

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if "search" in cfg:  # +search=NAME: an Optuna study instead of one run
        from .search import run_search

        try:
            overrides = list(HydraConfig.get().overrides.task)
            if HydraConfig.get().searchpath:  # --config-dir: the trials compose from there too
                overrides.append("hydra.searchpath=[" + ",".join(HydraConfig.get().searchpath) + "]")
            return run_search(cfg, overrides, Path(HydraConfig.get().runtime.output_dir))
        except NnexpError as e:
            print(f"nnexp: error: {e}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
    name, tags = None, None
    if multirun:  # each job is named by its values of what the sweep varies, e.g. "optim.lr=0.1 seed=2"
        from .tracking import job_name

        task = list(HydraConfig.get().overrides.task)
        name = job_name(task)
        tags = {"nnexp.overrides": " ".join(task), "nnexp.job": HydraConfig.get().job.num}
    curve = cfg.tracking.get("learning_curve")  # null: the PNG for a single run, not for a sweep's jobs
    try:
        from .launch import outcome

        done = outcome(HydraConfig.get().job.num) if multirun else None  # trained in a population
        if isinstance(done, BaseException):
            raise done
        result = done or run(cfg, run_name=None if cfg.tracking.get("run_name") else name, tags=tags,
                             curve=not multirun if curve is None else bool(curve))
        result.update(job=HydraConfig.get().job.num if multirun else None, job_name=name)
    except NnexpError as e:
        if multirun:
            raise  # Hydra records this job as failed and runs the others
        print(f"nnexp: error: {e}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    _summary(cfg, result, multirun)
    if result["diverged"] and not multirun:
        sys.exit(1)
    value = result["final"][cfg.objective]
    return value if math.isfinite(value) else float("nan")


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def normalise(argv):
    """`+experiment=X` and `experiment=X` both select a preset, and `--config-path DIR` may be
    relative to the working directory.

    The defaults list holds `experiment: null` (so presets are listed and override everything),
    where Hydra itself accepts only `experiment=X`; the `+` spelling is the one nnexp's docs use.
    Hydra reads a relative --config-path relative to the nnexp package; users mean their cwd.
    """
    out = [a[1:] if a.startswith("+experiment=") else a for a in argv]
    for i, a in enumerate(out):
        if a in ("--config-path", "-cp") and i + 1 < len(out):
            out[i + 1] = str(Path(out[i + 1]).resolve())
        elif a.startswith("--config-path="):
            out[i] = "--config-path=" + str(Path(a.split("=", 1)[1]).resolve())
    # --config-dir DIR (your own options and presets beside conf/): said as the override Hydra's docs
    # give for it, hydra.searchpath, which the pre-flight's compose and a search's workers also read
    dirs, rest, i = [], [], 0
    while i < len(out):
        a = out[i]
        if a in ("--config-dir", "-cd") and i + 1 < len(out):
            dirs.append(out[i + 1])
            i += 2
            continue
        if a.startswith("--config-dir="):
            dirs.append(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    if dirs:
        rest.append("hydra.searchpath=[" + ",".join(f"file://{Path(d).resolve()}" for d in dirs) + "]")
    return rest


def main(argv=None) -> None:
    """Entry point: pre-flight checks, then Hydra. Sweep parent runs never stay RUNNING."""
    from .tracking import INTERRUPTED, close_open_parents

    argv = normalise(sys.argv[1:] if argv is None else argv)
    sys.argv[1:] = argv  # what Hydra parses
    try:
        preflight(argv)
    except NnexpError as e:
        print(f"nnexp: error: {e}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM ends runs KILLED, like Ctrl-C
    try:
        hydra_main()
    except KeyboardInterrupt:
        close_open_parents("KILLED", INTERRUPTED)
        sys.exit(130)
    finally:
        close_open_parents("FAILED", "the sweep stopped with an error")
