"""The Hydra launcher class; the grouping and training are nnexp.launch's."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher


@dataclass
class PopulationLauncherConf:
    _target_: str = "hydra_plugins.nnexp_launcher.population_launcher.PopulationLauncher"
    max_population: int = 64  # members per population at most; 1 runs every job alone
    n_jobs: int = 1           # processes that train populations (or lone jobs) at once (joblib's loky)


ConfigStore.instance().store(group="hydra/launcher", name="nnexp", node=PopulationLauncherConf, provider="nnexp")


class PopulationLauncher(Launcher):
    def __init__(self, max_population: int = 64, n_jobs: int = 1) -> None:
        super().__init__()
        self.max_population, self.n_jobs = max_population, n_jobs
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides, initial_job_idx):
        from nnexp.launch import launch

        return launch(self, job_overrides, initial_job_idx)
