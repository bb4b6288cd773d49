"""The command line: one module per verb over the library (tinyq/cli/<verb>.py), options defined once
(tinyq/cli/options.py), errors caught once in `main`."""

from tinyq.cli.root import app, entry, main

__all__ = ["app", "entry", "main"]
