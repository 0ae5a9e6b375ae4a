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
