"""The parser of every command group and the entry point (exit statuses: 0 done, 1 a job
failed (``hpc status``), 2 bad input, 3 a physical check failed)."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence

import mttmat.cli.finetune as finetune
import mttmat.cli.hpc as hpc
import mttmat.cli.li_dft as li_dft
import mttmat.cli.results as results
import mttmat.cli.stages as stages
import mttmat.cli.structures as structures
import mttmat.cli.study as study
from mttmat.cli.common import UserError
from mttmat.errors import PHYSICS_ERRORS, USER_ERRORS
from mttmat.settings import RetiredSettingWarning
from mttmat.threads import RunSlot

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mttmat",
        description="ECRAM channel materials from atoms to a device model.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (structures, stages, li_dft, results, finetune, hpc, study):
        group.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("mttmat").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # library deprecation chatter is not for users of the CLI
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        # but a retired setting the user still sets is theirs to know about
        warnings.simplefilter("default", RetiredSettingWarning)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        # commands that compute share the machine's cores with other runs (mttmat.threads);
        # the main job takes its slot itself, once its input is validated
        if getattr(args, "heavy", False):
            with RunSlot():
                return func(args)
        return func(args)
    except PHYSICS_ERRORS as err:
        print(f"mttmat: stopped, a physical check failed: {err}", file=sys.stderr)
        return 3
    except (UserError, *USER_ERRORS) as err:
        print(f"mttmat: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
