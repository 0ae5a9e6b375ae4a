"""nnexp's grid sweeper (`hydra/sweeper: nnexp`, the default of conf/config.yaml): Hydra's basic
sweeper, the same jobs in the same order, without composing every job's config a second time when
`python -m nnexp` has already done so.

Before a sweep starts, Hydra's basic sweeper composes every job of a batch (`validate_batch_is_legal`)
to stop early on one that cannot be composed; then its launcher composes each job again to run it.
nnexp's pre-flight (nnexp/cli.py `preflight`) runs before Hydra and already composes every
combination of the swept config groups and validates every swept value; when it has checked this
very command, this sweeper leaves the check out (for the 30-job digits grid: 30 compositions,
~1.5 s). Run any other way (another entry point calling the Hydra app), it checks as Hydra's does.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore


@dataclass
class NnexpSweeperConf:
    _target_: str = "hydra_plugins.nnexp_sweeper.nnexp_sweeper.NnexpSweeper"
    max_batch_size: Optional[int] = None  # as the basic sweeper's
    params: Optional[Dict[str, str]] = None  # as the basic sweeper's (presets set it)


ConfigStore.instance().store(group="hydra/sweeper", name="nnexp", node=NnexpSweeperConf, provider="nnexp")


class NnexpSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        try:
            from nnexp.cli import preflighted
        except ImportError:  # pragma: no cover - nnexp is what installs this plugin
            preflighted = None
        if preflighted is not None and preflighted(self.config):
            return  # nnexp's pre-flight composed every job of this command
        super().validate_batch_is_legal(batch)
