"""``python -m orchestrator``: the same command line as ``orchestrator``."""

from orchestrator.cli import main

main()
