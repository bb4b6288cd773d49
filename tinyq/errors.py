"""One error root, caught once in the CLI (STYLE rule 12).

Every message is one line that names the problem and the fix.
"""


class TinyqError(RuntimeError):
    """Root of every error tinyq reports to the user."""

    exit_code = 2

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail  # longer output (a compiler log, say), shown with -v


class BadInput(TinyqError):
    """The user gave tinyq something it cannot use (exit 2)."""

    exit_code = 2


class UnsupportedModel(BadInput):
    """A well-formed model that tinyq cannot compile (float, unsupported op, ...)."""


class CheckFailed(TinyqError):
    """A check ran and failed: outputs differ, model too big (exit 1)."""

    exit_code = 1


class ToolMissing(TinyqError):
    """A required external tool (compiler, emulator) is not installed."""

    exit_code = 2
