"""Errors that reach the command line, each carrying its exit code (docs/commands.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_LOCKED = 4


class SegbridgeError(Exception):
    """Base of every error segbridge reports to a person."""

    exit_code = EXIT_FAILED


class ConfigError(SegbridgeError):
    """Bad config, mappings or arguments: one line per problem, nothing done."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class LockHeld(SegbridgeError):
    """Another run holds the store's run lock."""

    exit_code = EXIT_LOCKED


class StoreUnavailable(SegbridgeError):
    """The store cannot be opened as asked: missing, unreachable, or a schema this
    segbridge does not read; the message names the store in one line."""

    exit_code = EXIT_FAILED
