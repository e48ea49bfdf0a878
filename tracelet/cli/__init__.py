"""The ``tracelet`` command line; one module per subcommand, dispatched by :mod:`.main`."""

from tracelet.cli.main import main

__all__ = ["main"]
