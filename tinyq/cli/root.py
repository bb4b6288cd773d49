"""The `tinyq` command: thin typer commands over the library (STYLE rule 12).

Each verb lives in its own module (tinyq/cli/<verb>.py) and registers itself on `app`.
Errors: one TinyqError root, caught once in `main` -> one line on stderr and the exit code of its class
(tinyq.errors: 2 the command line or an input file is wrong, 1 the run failed); a traceback only with -v.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from rich.console import Console

from tinyq import __version__
from tinyq.cli.options import VERBOSE
from tinyq.errors import TinyqError

app = typer.Typer(
    name="tinyq",
    help=(
        "Keras model -> bit-exact int8 C for Arm Cortex-M.\n\n"
        "Typical flow: `tinyq convert model.keras -c calib.npy -o model.tflite`, then "
        "`tinyq verify model.tflite` (bit-exact check on the host), `tinyq analyze model.tflite` "
        "(per-layer MACs and memory) and `tinyq generate model.tflite -o out/` (C library).\n\n"
        "On a board: `tinyq boards`, `tinyq build model.tflite --board qemu-m4 -o build/m4` (firmware "
        "and flash/RAM report), `tinyq profile build/m4` (runs it, cycles per layer, bit-exact check "
        "against the reference), `tinyq bench` (figures beside TFLM), `tinyq compare model.keras -c calib.npy --eval test.npz --board qemu-m4` "
        "(float32, int8 and int16x8 measured side by side)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Off a terminal (pipes, CI logs) rich would assume 80 columns and squeeze the tables: use 120.
_WIDTH = None if sys.stdout.isatty() else 120
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATE = {"verbose": False}


def _version(value: bool) -> None:
    """`tinyq 0.1.0 (tensorflow 2.21.0, ai-edge-litert 2.3.0)`: the references bit-exactness is held to.

    Versions come from the installed distributions' metadata: importing tensorflow takes seconds.
    """
    if value:
        from importlib.metadata import PackageNotFoundError, version

        def installed(dist: str) -> str:
            try:
                return f"{dist} {version(dist)}"
            except PackageNotFoundError:
                return f"{dist} not installed"

        print(f"tinyq {__version__} ({installed('tensorflow')}, {installed('ai-edge-litert')})")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = VERBOSE,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version (and those of tensorflow and ai-edge-litert) and exit."),
) -> None:
    STATE["verbose"] = verbose


def emit_json(obj: Any) -> None:
    """Print a JSON report on stdout (the only thing on stdout with --json)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def _register_commands() -> None:
    # Importing a command module registers its verb on `app`.
    import importlib

    for name in ("convert", "generate", "verify", "analyze", "boards", "build", "flash", "emulate", "profile", "bench", "compare", "export"):
        importlib.import_module(f"tinyq.cli.{name}")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    STATE["verbose"] = verbose
    if verbose:  # what the library notes on its way (logging.getLogger(__name__)) goes to stderr
        import logging

        logging.basicConfig(format="tinyq: %(name)s: %(message)s")
        logging.getLogger("tinyq").setLevel(logging.DEBUG)
    if "--version" not in args:  # the version needs no verb (nor their imports)
        _register_commands()
    try:
        # Outside standalone mode click hands back a command's `typer.Exit(code)` as the return value.
        rv = app(args=args, standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except TinyqError as e:
        if verbose:
            import traceback

            traceback.print_exc()
            if getattr(e, "detail", ""):
                print(e.detail, file=sys.stderr)
        err.print(f"[bold red]error:[/] {e}", markup=True) if sys.stderr.isatty() else print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:  # click usage errors
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # click usage errors arrive as ClickException
        # click's exceptions, matched by name: typer may ship click as its own private copy.
        from_click = type(e).__module__.split(".")[0] in ("click", "typer")
        if from_click and any(c.__name__ == "Abort" for c in type(e).__mro__):
            print("aborted", file=sys.stderr)
            return 130
        if from_click and any(c.__name__ == "ClickException" for c in type(e).__mro__):
            e.show()  # type: ignore[attr-defined]
            return 2
        if verbose:
            raise
        print(f"error: internal error: {type(e).__name__}: {e} (run with -v for the traceback and report it)", file=sys.stderr)
        return 1
    return 0


def entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
