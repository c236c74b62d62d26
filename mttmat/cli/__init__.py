"""The ``mttmat`` command: one module per command group (as jobflow-remote's ``cli/``).

- :mod:`~mttmat.cli.structures`: ``structures`` (build / pack / check), ``calc``,
  ``vasp-inputs``;
- :mod:`~mttmat.cli.stages` and :mod:`~mttmat.cli.li_dft`: the resumable stage commands
  ``melt-quench``, ``li-migration``, and ``li-dos``, ``li-formation``;
- :mod:`~mttmat.cli.study`: ``li-electron-study``;
- :mod:`~mttmat.cli.results`: ``run`` (the main job), ``ecram``, ``show``, ``settings``;
- :mod:`~mttmat.cli.hpc`: ``hpc`` (check, project, inputs, submit, status, rerun);
- :mod:`~mttmat.cli.main`: the parser and the entry point with its exit statuses.

Bad input exits with status 2 and one line saying what is wrong and how to fix it; a failed
physical check exits with status 3.
"""

from mttmat.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
