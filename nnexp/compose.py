"""Composing a sweep's jobs once: a job whose overrides differ from an already composed job's only in
the values of plain keys (seed=1 instead of seed=0, optim.lr=0.3 instead of 0.1) is that job with the
values set the way Hydra sets them, not a new composition (about a quarter of a second each). Used by
the pre-flight (cli.preflight) and by nnexp's launcher (launch.launch)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

_ABSENT = object()


def sets_a_value(override, base, others) -> bool:
    """Whether a swept override only changes the value of a key the composed `base` job has (no
    group, no package, no +/~, no hydra key, not a config node, no other override on the same
    subtree). Composition cannot fail for one value of such a key and not for another: a variant
    with another value is `base` with that value set, the way Hydra sets it (no new composition)."""
    from hydra.core.override_parser.types import OverrideType

    key = override.key_or_group
    if override.type != OverrideType.CHANGE or override.package is not None or key.split(".")[0] == "hydra":
        return False
    if any(k != key and (k.startswith(key + ".") or key.startswith(k + ".")) for k in others):
        return False
    node = OmegaConf.select(base, key, default=_ABSENT, throw_on_missing=False)
    return node is not _ABSENT and not isinstance(node, DictConfig)  # a list is a value, set whole


def with_values(base, overrides):
    """A copy of `base` with parsed value overrides applied as Hydra applies a value change
    (OmegaConf.update with merge, after composition)."""
    job = base.copy()
    for o in overrides:
        OmegaConf.update(job, o.key_or_group, o.value(), merge=True)
    return job


def with_value(base, line):
    """`base` with one override line applied (see with_values)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return with_values(base, [OverridesParser.create().parse_override(line)])


def sweep_job(base, base_overrides, overrides):
    """Job `overrides` (parsed) as Hydra's load_sweep_config would compose it, derived from the
    composed job `base` (whose parsed overrides are `base_overrides`), or None when they differ in
    more than plain values (then it must be composed). Besides the values, what composition records
    of the overrides is set: hydra.overrides.task and hydra.job.override_dirname."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    if len(overrides) != len(base_overrides):
        return None
    changed = []
    for o, b in zip(overrides, base_overrides):
        if (o.key_or_group, o.type, o.package) != (b.key_or_group, b.type, b.package):
            return None
        if o.input_line != b.input_line:
            changed.append(o)
    keys = [o.key_or_group for o in changed]
    if not all(sets_a_value(o, base, keys) for o in changed):
        return None
    job = with_values(base, changed)
    app = [o for o in overrides if not o.is_hydra_override()]
    job.hydra.overrides.task = [o.input_line for o in app]
    dirname = job.hydra.job.config.override_dirname
    job.hydra.job.override_dirname = get_overrides_dirname(
        overrides=app, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
    return job
