"""The errors nnexp raises for bad input: each message is one line naming the problem and what is allowed."""


class NnexpError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""


class ConfigError(NnexpError):
    """A config value that is missing, mistyped or out of range."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"{key}: {problem}")


class DataError(NnexpError):
    """A dataset that is missing, corrupt or does not fit the requested options."""


class RunStopped(Exception):
    """Raised by a training callback to stop a run early on purpose (e.g. a search pruning a
    trial): the run ends with `status` (an MLflow status) and `reason` instead of FAILED."""

    def __init__(self, status: str, reason: str):
        self.status, self.reason = status, reason
        super().__init__(reason)
