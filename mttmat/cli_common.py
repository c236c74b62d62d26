"""What every ``mttmat`` subcommand module shares: the user-error type and progress output."""

from __future__ import annotations

__all__ = ["UserError", "progress"]


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def progress(msg: str) -> None:
    """One progress line on stdout, flushed (long runs are watched through pipes and logs)."""
    print(f"[mttmat] {msg}", flush=True)
