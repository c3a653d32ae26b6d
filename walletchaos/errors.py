"""One exception tree; exit codes live here and nowhere else.

    WalletchaosError
     +-- ScenarioError   bad user input (scenario file, flags)       exit 254
     +-- InfraError      PostgreSQL / Toxiproxy / Docker / a process    exit 255
          |              could not be started, reached or healed
          +-- WalletError  the wallet under test exited while starting    exit 1

A broken wallet is never an exception: it is a verdict (exit 1 invalid, 2 unknown).
"""

from __future__ import annotations

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 254
EXIT_HARNESS = 255


class WalletchaosError(Exception):
    exit_code = EXIT_HARNESS


class ScenarioError(WalletchaosError):
    """User input is wrong; ``problems`` holds every message, each already located (file:line:col: ...)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class InfraError(WalletchaosError):
    """The harness could not start, reach or heal a component it depends on."""

    exit_code = EXIT_HARNESS


class WalletError(InfraError):
    """The wallet under test exited during start-up: a fact about the wallet (invalid, exit 1), not about
    the harness. A subclass of InfraError so that a deploy, which tolerates a replica that does not start,
    still records it as a failed rollout."""

    exit_code = EXIT_INVALID


def log_tail(path: object, lines: int = 15) -> str:
    """The last lines of a log file, for messages that must show why something did not start."""
    try:
        with open(str(path), errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log)"
