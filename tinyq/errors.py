"""One error root, caught once in the CLI (STYLE rule 12), and what each exit code means.

Every message is one line that names the problem and the fix. The exit code says who fixes it:

| code | class | meaning |
|---|---|---|
| 2 | `BadInput` (and `UnsupportedModel`) | the command line or an input file is wrong: a corrupt or float model, an unsupported op, a wrong calibration shape, a model too big for the board, a port that does not exist |
| 1 | `CheckFailed`, `DeviceError`, `ToolMissing` | the run failed: a check failed (outputs differ), a device did not answer or broke the protocol, a tool is missing or crashed |
| 1 | any other exception | an internal error (a bug in tinyq): one line, the traceback with -v |
"""


class TinyqError(RuntimeError):
    """Root of every error tinyq reports to the user (exit 1 unless a subclass says otherwise)."""

    exit_code = 1

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail  # longer output (a compiler log, say), shown with -v


class BadInput(TinyqError):
    """The command line or an input file is wrong: the user fixes the input (exit 2)."""

    exit_code = 2


class UnsupportedModel(BadInput):
    """A well-formed model that tinyq cannot compile (float, unsupported op, ...)."""


class CheckFailed(TinyqError):
    """A check ran and failed: outputs differ, a build step failed (exit 1)."""

    exit_code = 1


class DeviceError(TinyqError):
    """A device was silent, sent garbage, answered outside the protocol or runs other firmware (exit 1)."""

    exit_code = 1


class ToolMissing(TinyqError):
    """A required external tool (compiler, emulator, flasher) is not installed (exit 1)."""

    exit_code = 1
