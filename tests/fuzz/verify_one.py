"""One sampled bit-exact check for the .tflite fuzz target, in its own process (a crash of the reference
interpreter or of the generated C ends this process, not the fuzzer).

    python -m tests.fuzz.verify_one --verify MODEL      exit 0 bit-exact, 1 not (or verify failed), 3 the
                                                        reference interpreter refuses the model
    python -m tests.fuzz.verify_one --reference MODEL   the reference alone on the same inputs (is a crash its own?)
"""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLES = 6


def main(argv: list[str]) -> int:
    from tinyq.checks.inputs import make_inputs
    from tinyq.checks.runners import ReferenceRunner
    from tinyq.checks.verify import verify_tflite
    from tinyq.compiler.importer import import_model
    from tinyq.errors import TinyqError

    what, path = argv[0], Path(argv[1])
    try:
        g = import_model(path)
        ref = ReferenceRunner(path, g)
        batch, _ = make_inputs(g, SAMPLES, 0)
        for x in batch[:1]:
            ref.run(x)
    except TinyqError as e:
        print(f"reference refuses: {e}")
        return 3
    except Exception as e:  # TFLite's own errors (ValueError/RuntimeError from allocate or invoke)
        print(f"reference refuses: {type(e).__name__}: {str(e)[:300]}")
        return 3
    if what == "--reference":
        for x in batch:
            ref.run(x)
        return 0
    res = verify_tflite(path, samples=SAMPLES)
    print(f"bit_exact={res.bit_exact} mismatches={res.mismatches} samples={res.samples} first={res.first}")
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
