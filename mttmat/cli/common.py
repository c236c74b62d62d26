"""What every ``mttmat`` subcommand module shares: the user-error type and progress output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["UserError", "add_store_argument", "progress", "store_path"]


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def progress(msg: str) -> None:
    """One progress line on stdout, flushed (long runs are watched through pipes and logs)."""
    print(f"[mttmat] {msg}", flush=True)


def add_store_argument(parser: Any, help: str = "job store folder") -> None:
    """``--store DIR``; its default is the ``store_dir`` setting (``MTTMAT_STORE_DIR``)."""
    parser.add_argument("--store", default=None, metavar="DIR",
                        help=f"{help} (default: setting store_dir)")  # fmt: skip


def store_path(store: str | Path | None) -> Path:
    """The store folder of ``--store``, or of the ``store_dir`` setting when not given."""
    from mttmat.settings import get_settings

    return Path(store if store is not None else get_settings().store_dir).expanduser()
