"""Every per-op test's model, run bit-exact on qemu-m0 (a Cortex-M0: ARMv6-M, soft float, 16 KB of RAM,
faults on an unaligned word access) without a firmware per case.

How: while a tests/test_ops_*.py module runs, every model its tests verify on the host (verify_tflite,
directly or through helpers.assert_bit_exact) and find bit-exact (within tolerance: float32) is recorded
(`record`, from conftest.py's `_m0_cases` fixture: the model's bytes, the test's node id, the inputs file
it gave, its --wide-weights). The module's last test, `test_bit_exact_on_qemu_m0` (conftest.py adds it
to each module that verifies models), then:
1. compiles each case for the M0 (its arena and state: what it needs of RAM; a case tinyq refuses for
   the board, or larger than the RAM a firmware leaves for inference, is left out and reported with its
   size or the refusal);
2. packs the cases, in the order they were verified, into groups whose arenas and state add up to the
   RAM budget and weights to a part of the flash, at most GROUP_CASES each (a model with several
   subgraphs or resource variables: a group of its own), merges each group into one model
   (tests/merge_models.py) and builds it for qemu-m0 (a group the build refuses is halved and tried again);
3. runs every group's firmware on the case's own inputs (the inputs file the test gave, at most
   MAX_ROWS of its rows) or on the edge inputs (all min, all max, all zero point) and RANDOM ones, and
   compares each case's outputs with TFLite's reference interpreter on that case's own model: bit for bit
   (float32 cases: within checks.match's tolerance, as verify on a board); a stateful group (variable
   tensors) runs its inputs as one sequence, reset once before it (whatever reset_every the test gave);
   a firmware that faults or stops answering (INFER_TIMEOUT) is halved until the case is found.
Builds use the default kernel set ("fast": on the M0 the fast kernels' portable C); a test's "ref"
verification is not repeated on the M0.
The test fails on any mismatch, naming the test that made the case; it prints what ran, what was left
out and why. Run on its own (-k m0, no per-op test before it in the session) it has nothing to run and
fails saying so: the models exist only as the tests build them.

float32 cases: tinyq refuses a float32 model for a board without an FPU (build.firmware.compile_model);
the cases are run anyway, to check that the float kernels work soft-float on ARMv6-M, through a copy of
the board whose `fpu` field is set (its compiler flags unchanged: -mfloat-abi=soft).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BOARD = "qemu-m0"
GROUP_CASES = 60  # more cases a firmware: fewer builds, but a longer compile each
RANDOM = 1  # random inputs a case, after its 3 edge inputs (the host's verify ran many: the M0 run is for the code)
MAX_ROWS = 8  # rows of a test's own inputs file run (the first ones); such cases are grouped apart
FLASH_PART = 2  # a group's weights within 1/FLASH_PART of the flash
REPLY_TIMEOUT = 10.0  # seconds for a reply
INFER_TIMEOUT = 30.0  # and for an inference (a faulting case hangs the firmware: found by halving its group)

# RAM a firmware leaves for the arena and state: the board's RAM less its stack and the firmware's own
# data (protocol buffers, console; measured: RAM_OTHER), with a margin.
RAM_OTHER = 2700  # measured: 2,616 B (int8 and float32 groups alike)


@dataclass
class Case:
    test: str  # node id of the test that verified it
    name: str  # the model file's name
    model: bytes
    inputs: tuple[str, bytes] | None = None  # (suffix, content) of the inputs file the test gave verify
    wide: bool = False
    path: Path | None = None
    graph: object = None
    ram: int = 0
    weights: int = 0
    alone: str | None = None  # why it runs in a firmware of its own
    left_out: str | None = None


@dataclass
class Report:
    module: str
    cases: list[Case] = field(default_factory=list)
    groups: int = 0
    ran: int = 0
    bit_exact: int = 0
    within: int = 0  # float32 cases within tolerance, not bit-identical
    samples: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"compile": 0.0, "build": 0.0, "run": 0.0})

    def text(self) -> str:
        left = [c for c in self.cases if c.left_out]
        lines = [f"{self.module} on {BOARD}: {len(self.cases)} cases collected, {self.ran} run in {self.groups} firmwares "
                 f"({self.samples} inferences), {self.bit_exact} bit-exact, {self.within} float32 within tolerance, "
                 f"{len(self.mismatches)} mismatched, {len(left)} left out; "
                 + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())]
        lines += [f"  left out: {c.test} ({c.name}): {c.left_out}" for c in left]
        lines += [f"  MISMATCH: {m}" for m in self.mismatches]
        return "\n".join(lines)


_CASES: dict[str, list[Case]] = {}
_SEEN: dict[str, set[str]] = {}


def record(module: str, test: str, path, inputs=None, wide: bool = False) -> None:
    """Keep the model at `path` (verified on the host by `test`) for module `module`'s run on the M0."""
    model = Path(path).read_bytes()
    data = (Path(inputs).suffix, Path(inputs).read_bytes()) if inputs is not None else None
    key = hashlib.sha256(model + (data[1] if data else b"") + bytes([wide])).hexdigest()
    if key in _SEEN.setdefault(module, set()):
        return
    _SEEN[module].add(key)
    _CASES.setdefault(module, []).append(Case(test, Path(path).name, model, data, wide))


def cases(module: str) -> list[Case]:
    return list(_CASES.get(module, []))


def _board():
    from tinyq.boards import get_board

    b = get_board(BOARD)
    return dataclasses.replace(b, fpu="none (soft float: the test lifts the float32 refusal)")


def _prepare(c: Case, work: Path, board, budget: int) -> None:
    """Compile `c` for the M0: its RAM and weights, or why it is left out."""
    from ai_edge_litert import schema_py_generated as schema

    from tinyq.compiler import compile_tflite, state_size, target_for
    from tinyq.errors import TinyqError

    from .merge_models import mergeable

    c.path = work / f"case{len(list(work.glob('case*.tflite')))}_{c.name}"
    c.path.write_bytes(c.model)
    c.alone = mergeable(schema.ModelT.InitFromPackedBuf(c.model, 0))
    try:
        g = compile_tflite(c.path, target_for("fast", board.extensions, c.wide))
    except TinyqError as e:
        c.left_out = f"tinyq refuses it for {BOARD}: {e}"
        return
    c.graph = g
    c.ram = int(g.arena_size) + state_size(g)
    c.weights = sum(t.nbytes for t in g.tensors if t.is_const)
    if c.ram > budget:
        c.left_out = f"needs {c.ram:,} B of arena and state; {BOARD} leaves {budget:,} B for inference"


def _groups(todo: list[Case], budget: int, flash: int) -> list[list[Case]]:
    out: list[list[Case]] = []
    by_key: dict[tuple, list[Case]] = {}
    for c in todo:
        if c.alone:
            out.append([c])
            continue
        key = (c.wide, c.inputs is not None)  # a case with its own inputs runs more of them: apart from the rest
        cur = by_key.get(key)
        if cur is None or len(cur) == GROUP_CASES or sum(x.ram for x in cur) + c.ram > budget \
                or sum(x.weights for x in cur) + c.weights > flash:
            cur = by_key[key] = []
            out.append(cur)
        cur.append(c)
    return out


def _inputs(c: Case, work: Path) -> list[list[np.ndarray]]:
    from tinyq.checks.inputs import attach_float_edges, load_inputs, make_inputs

    attach_float_edges(c.graph)
    if c.inputs is not None:
        f = work / f"{c.path.stem}_inputs{c.inputs[0]}"
        f.write_bytes(c.inputs[1])
        return load_inputs(f, c.graph)[:MAX_ROWS]
    return make_inputs(c.graph, RANDOM, seed=0)[0]


def _build(group: list[Case], board, work: Path, rep: Report) -> list[tuple[list[Case], object]]:
    """The group as one firmware; halved while the build refuses it (a single case refused: left out)."""
    from tinyq.build.firmware import build
    from tinyq.errors import BadInput, UnsupportedModel

    from .merge_models import merge

    model = work / f"group{rep.groups}.tflite"
    rep.groups += 1
    model.write_bytes(group[0].model if len(group) == 1 else merge([c.model for c in group]))
    try:
        res = build(model, board, work / f"build{rep.groups - 1}", kernels="fast", wide=group[0].wide)
    except (BadInput, UnsupportedModel) as e:
        if len(group) == 1:
            group[0].left_out = f"the build for {BOARD} refuses it: {e}"
            return []
        half = len(group) // 2
        return _build(group[:half], board, work, rep) + _build(group[half:], board, work, rep)
    return [(group, res)]


def _run(group: list[Case], res, rep: Report) -> None:
    from tinyq.checks.match import compare_output, output_tolerance
    from tinyq.checks.runners import DeviceRunner, ReferenceRunner
    from tinyq.compiler import state_size
    from tinyq.device import open_device

    batches = [_inputs(c, res.out_dir.parent) for c in group]
    refs = [ReferenceRunner(c.path, c.graph) for c in group]
    n_in = [len(c.graph.inputs) for c in group]
    n_out = [len(c.graph.outputs) for c in group]
    assert len(res.graph.inputs) == sum(n_in) and len(res.graph.outputs) == sum(n_out), (
        f"the merged model has {len(res.graph.inputs)} inputs and {len(res.graph.outputs)} outputs, its parts "
        f"{sum(n_in)} and {sum(n_out)}")
    tol = [output_tolerance(c.graph) for c in group]
    bad: dict[int, str] = {}
    identical = [True] * len(group)
    stateful = res.manifest.state_bytes > 0
    rounds = max(len(b) for b in batches)
    with open_device(res.out_dir, res.board, timeout=REPLY_TIMEOUT) as dut:
        dut.infer_timeout = INFER_TIMEOUT
        device = DeviceRunner(dut, res.manifest)
        if stateful:
            device.reset()
        for n in range(rounds):
            xs = [b[n % len(b)] for b in batches]
            got = device.run([a for x in xs for a in x])
            rep.samples += 1
            at = 0
            for k, (c, x) in enumerate(zip(group, xs)):
                mine, at = got[at: at + n_out[k]], at + n_out[k]
                if k in bad:
                    continue
                if state_size(c.graph) and n == 0:
                    refs[k].reset()
                want = refs[k].run(x)
                for j, (a, b) in enumerate(zip(mine, want)):
                    cmp = compare_output(a, b, tol[k])
                    identical[k] &= cmp.identical
                    if not cmp.identical and cmp.first_bad is not None:
                        i = cmp.first_bad
                        bad[k] = (f"{c.test} ({c.name}): input {n}, output {j}[{i}]: got {np.asarray(a).reshape(-1)[i]}, "
                                  f"want {np.asarray(b).reshape(-1)[i]}")
                        break
    for k, c in enumerate(group):
        rep.ran += 1
        if k in bad:
            rep.mismatches.append(bad[k])
        elif identical[k]:
            rep.bit_exact += 1
        else:
            rep.within += 1


def run_module(module: str, work: Path) -> Report:
    """Run module `module`'s recorded cases on qemu-m0 (see the module's doc); the report."""
    board = _board()
    rep = Report(module, cases(module))
    budget = board.ram.length - board.stack_bytes - RAM_OTHER
    flash = board.flash.length // FLASH_PART
    t = time.monotonic()
    for c in rep.cases:
        _prepare(c, work, board, budget)
    rep.seconds["compile"] = time.monotonic() - t
    for group in _groups([c for c in rep.cases if not c.left_out], budget, flash):
        _build_and_run(group, board, work, rep)
    return rep


def _build_and_run(group: list[Case], board, work: Path, rep: Report) -> None:
    """Build and run `group`; a firmware that faults or stops answering is halved until the case is found."""
    from tinyq.errors import TinyqError

    t = time.monotonic()
    built = _build(group, board, work, rep)
    rep.seconds["build"] += time.monotonic() - t
    for part, res in built:
        t, failed = time.monotonic(), None
        try:
            _run(part, res, rep)
        except TinyqError as e:
            failed = e
        finally:
            rep.seconds["run"] += time.monotonic() - t
            shutil.rmtree(res.out_dir, ignore_errors=True)
        if failed is not None and len(part) == 1:
            rep.ran += 1
            rep.mismatches.append(f"{part[0].test} ({part[0].name}): the run failed on {BOARD}: {failed}")
        elif failed is not None:
            half = len(part) // 2
            _build_and_run(part[:half], board, work, rep)
            _build_and_run(part[half:], board, work, rep)


# --------------------------------------------------------------------------- the pytest side (conftest.py)

M0_TEST = "test_bit_exact_on_qemu_m0"


def _collects(module) -> bool:
    """A per-op test module whose tests verify models (tests/test_ops_*.py, test_ops_inventory aside)."""
    return module.__name__.rpartition(".")[2].startswith("test_ops_") and (
        hasattr(module, "verify_tflite") or hasattr(module, "assert_bit_exact"))


def collect(request, monkeypatch) -> None:
    """For a per-op test: every verify_tflite it calls (its module's name, or through assert_bit_exact's
    import) records the model it found bit-exact."""
    import inspect

    import tinyq.checks.verify as verify

    mod = request.module
    if mod is None or not _collects(mod) or request.node.name == M0_TEST:
        return
    original = verify.verify_tflite
    signature = inspect.signature(original)

    def recording(*args, **kw):
        r = original(*args, **kw)
        if r.passed:
            a = signature.bind(*args, **kw).arguments
            record(mod.__name__, request.node.nodeid, a["path"], a.get("inputs"), bool(a.get("wide", False)))
        return r

    monkeypatch.setattr(verify, "verify_tflite", recording)
    if getattr(mod, "verify_tflite", None) is original:
        monkeypatch.setattr(mod, "verify_tflite", recording)


def _module_test(request, tmp_path):
    """The models this module's tests verified on the host, bit-exact on qemu-m0 (tests/m0_cases.py)."""
    import pytest

    name = request.module.__name__
    if not cases(name):
        pytest.fail(f"no model of {name} was verified before this test in this session: it runs on qemu-m0 the models "
                    f"the module's tests build; run the whole module (pytest {request.module.__file__})")
    rep = run_module(name, tmp_path)
    print(rep.text())
    assert not rep.mismatches, rep.text()


def add_tests(items: list) -> None:
    """Append `M0_TEST` to each collected per-op module, after its last test (make test runs a file on one
    worker, in order: --dist loadfile)."""
    import pytest

    last: dict = {}
    for k, item in enumerate(items):
        mod = item.getparent(pytest.Module)
        if mod is not None and _collects(mod.obj):
            last[mod] = k
    for mod, k in sorted(last.items(), key=lambda kv: -kv[1]):
        items.insert(k + 1, pytest.Function.from_parent(mod, name=M0_TEST, callobj=_module_test))
