"""Estimated cycles on a real Cortex-M4 or Cortex-M7 from what QEMU executed.

QEMU counts instructions, not cycles. tinyq's TCG plugin (tinyq.device.plugin) records, for one
inference, how often each translation block ran in each layer, whether the branch ending it was
taken, and the misses of a simple flash-accelerator model; here each block's instructions (from the
ELF's disassembly) are weighted by the core's documented timings, and the wait states of the target
board's flash are added per miss. The board file gives the core, the clock and the flash (`timing`:
flash_wait_states, icache, dcache); a board without `timing` has zero-wait-state memory.

Cortex-M4 (Technical Reference Manual, table 3-1, zero wait states): data processing, multiplies and
MACs (MUL, MLA, SMULL, SMLAL, SMLAD, SMMLAR...), saturation, extension and SIMD 1 cycle; SDIV/UDIV
2..12, taken here as 7; LDR/STR (every width) 2, but 1 right after a single load (their address and
data phases pipeline; nothing pipelines after a store); LDRD/STRD 3; LDM/STM/PUSH/POP 1+N; a branch 1, plus
P = 2 pipeline-refill cycles when taken (the manual gives 1..3 by target alignment); BL/BX/BLX 1+P;
POP or LDR into PC 1+N+P; TBB/TBH 2+P; IT 0 after a 16-bit instruction (folded), else 1; VFP
add/multiply/convert/compare/move 1, VMLA/VFMA 3, VDIV/VSQRT 14, VLDR/VSTR 2, VLDM/VSTM/VPUSH/VPOP 1+N.

Cortex-M7 (assumptions, the manual publishes no table): in-order dual issue: two neighbouring
instructions issue in one cycle when neither is a load/store multiple, a divide, a VFP divide or a
branch-with-link, at most one of them accesses memory and at most one multiplies, the second does
not read a register the first writes, and a branch may only be the second; a load's result is ready
one cycle later (the next instruction reading it waits 1); loads and stores from TCM or cache 1 cycle,
LDRD/STRD 1, LDM/STM 1 + N/2; a branch predicted right costs its issue slot; static prediction
(backward taken, forward not taken; unconditional branches, calls and returns predicted) with a
misprediction penalty of 8 cycles; SDIV/UDIV 7; VFP as the M4 but VMLA/VFMA 1 (pipelined).

Flash (both cores): on a board with wait states W, a data read from flash that misses the data cache
costs W more cycles; an instruction fetch that misses the instruction cache costs W when it jumps,
and max(0, W + 1 - line_bytes/2) when it is the line after the previous one (the prefetcher has
fetched it while the previous line ran). Without caches in the board file every flash access pays.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyq.boards import Board, all_boards, get_board
from tinyq.build.manifest import Manifest, resolve_board
from tinyq.build.manifest import load as load_manifest
from tinyq.device.plugin import (
    ExecTrace,
    Insn,
    LayerMemory,
    MemoryModel,
    TracedQemuDevice,
    disassemble,
    function_symbols,
    read_trace,
    trace_run,
    window_of,
)
from tinyq.errors import BadInput

ELF = "firmware.elf"
CORES = ("cortex-m4", "cortex-m7")
CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")

REFILL = 2  # M4: P, pipeline refill after a taken branch (1..3 in the manual)
DIVIDE = 7  # SDIV/UDIV: 2..12 cycles by operand values
M7_MISPREDICT = 8

# Instruction classes by base mnemonic (no condition, flags or width suffix).
_CLASSES: dict[str, str] = {}
for _names, _cls in [
    ("mov mvn movw movt add adc sub sbc rsb and orr eor bic orn cmp cmn tst teq lsl lsr asr ror rrx adr addw subw "
     "neg nop sxtb sxth uxtb uxth sxtab sxtah uxtab uxtah sxtb16 uxtb16 sxtab16 uxtab16 bfi bfc ubfx sbfx clz rbit "
     "rev rev16 revsh ssat usat ssat16 usat16 sel qadd qsub qdadd qdsub sadd16 ssub16 sadd8 ssub8 uadd8 usub8 uadd16 "
     "usub16 qadd8 qsub8 qadd16 qsub16 uqadd8 uqsub8 uqadd16 uqsub16 shadd8 shsub8 shadd16 shsub16 uhadd8 uhsub8 "
     "uhadd16 uhsub16 sasx ssax uasx usax qasx qsax pkhbt pkhtb usad8 usada8 dmb dsb cpsie cpsid yield sev", "alu"),
    ("mul mla mls smull umull smlal umlal umaal smlabb smlabt smlatb smlatt smlawb smlawt smulbb smulbt smultb smultt "
     "smulwb smulwt smmul smmulr smmla smmlar smmls smmlsr smuad smuadx smusd smusdx smlad smladx smlsd smlsdx smlald "
     "smlaldx smlsld smlsldx smlalbb smlalbt smlaltb smlaltt", "mac"),
    ("sdiv udiv", "div"),
    ("ldr ldrb ldrh ldrsb ldrsh ldrex ldrexb ldrexh ldrt ldrbt ldrht ldrsbt ldrsht pld", "load"),
    ("str strb strh strex strexb strexh strt strbt strht", "store"),
    ("ldrd strd", "dual"),
    ("ldm ldmia ldmfd ldmdb ldmea stm stmia stmea stmdb stmfd push pop", "multiple"),
    ("b", "branch"), ("cbz cbnz", "branch"), ("bl blx", "call"), ("bx", "bx"), ("tbb tbh", "table"),
    ("it", "it"), ("mrs msr isb", "system"),
    ("vadd vsub vmul vnmul vneg vabs vcvt vcvtr vcmp vcmpe vmov vmrs vmsr vcvtb vcvtt vsel vmaxnm vminnm vrint", "vfp"),
    ("vmla vmls vnmla vnmls vfma vfms vfnma vfnms", "vmac"),
    ("vdiv vsqrt", "vdiv"),
    ("vldr vstr", "vldst"),
    ("vldm vldmia vldmdb vstm vstmia vstmdb vpush vpop", "vmultiple"),
]:
    for _n in _names.split():
        _CLASSES[_n] = _cls


def base_of(mnemonic: str) -> tuple[str, bool]:
    """(base mnemonic, conditional?) of objdump's mnemonic: "bne.n" -> ("b", True), "movs" -> ("mov", False)."""
    w = mnemonic.split(".")[0].lower()
    if w in _CLASSES:
        return w, False
    if w.startswith("it") and set(w[2:]) <= {"t", "e"}:
        return "it", False
    if len(w) > 2 and w[-2:] in CONDS:
        stem = w[:-2]
        if stem in _CLASSES:
            return stem, stem not in ("it",)
        if stem.endswith("s") and stem[:-1] in _CLASSES:
            return stem[:-1], True
    if w.endswith("s") and w[:-1] in _CLASSES:
        return w[:-1], False
    return w, False


def class_of(mnemonic: str) -> str:
    return _CLASSES.get(base_of(mnemonic)[0], "unknown")


def _reg_count(operands: str) -> int:
    """Registers in a {list} (r4-r7 counts 4; d registers count 2 words)."""
    m = re.search(r"\{([^}]*)\}", operands)
    if not m:
        return 1
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        words = 2 if part.startswith("d") else 1
        r = re.match(r"^[a-z]+(\d+)\s*-\s*[a-z]+(\d+)$", part)
        n += words * ((int(r.group(2)) - int(r.group(1)) + 1) if r else 1)
    return max(n, 1)


def _writes_pc(i: Insn) -> bool:
    return bool(re.search(r"\bpc\b", i.operands)) and (
        (class_of(i.mnemonic) == "multiple" and base_of(i.mnemonic)[0].startswith(("pop", "ldm")))
        or (class_of(i.mnemonic) in ("load", "alu") and i.operands.split(",")[0].strip() == "pc"))


def _is_branch(i: Insn) -> bool:
    return class_of(i.mnemonic) in ("branch", "call", "bx", "table") or _writes_pc(i)


# ------------------------------------------------------------------------------- cores

def m4_block(insns: list[Insn]) -> tuple[int, int]:
    """Cortex-M4 cycles of a block run to its end: (fall-through, branch taken)."""
    cycles, prev_single, prev_size = 0, False, 4
    for i in insns:
        cls = class_of(i.mnemonic)
        if cls in ("load", "store"):
            cycles += 1 if prev_single else 2
        elif cls == "dual":
            cycles += 3
        elif cls == "multiple":
            cycles += 1 + _reg_count(i.operands)
        elif cls == "div":
            cycles += DIVIDE
        elif cls == "it":
            cycles += 0 if prev_size == 2 else 1
        elif cls == "table":
            cycles += 2
        elif cls == "vmac":
            cycles += 3
        elif cls == "vdiv":
            cycles += 14
        elif cls == "vldst":
            cycles += 3 if re.match(r"^d\d", i.operands) else 2
        elif cls == "vmultiple":
            cycles += 1 + _reg_count(i.operands)
        elif cls == "system":
            cycles += 2
        else:  # alu, mac, vfp, branch, call, bx, unknown
            cycles += 1
        prev_single = cls == "load"
        prev_size = i.size
    last = insns[-1] if insns else None
    if last is None or not _is_branch(last):
        return cycles, cycles
    refill = REFILL
    cls = class_of(last.mnemonic)
    conditional = base_of(last.mnemonic)[1] or base_of(last.mnemonic)[0] in ("cbz", "cbnz")
    if cls in ("call", "bx", "table") or _writes_pc(last) or not conditional:
        return cycles + refill, cycles + refill  # always taken (a fall-through means an IT-skipped branch)
    return cycles, cycles + refill


_REG = re.compile(r"\b(r\d+|ip|lr|sp|fp|sl|sb)\b")


def _dest(i: Insn) -> str | None:
    cls = class_of(i.mnemonic)
    if cls in ("alu", "mac", "load", "dual") and base_of(i.mnemonic)[0] not in ("cmp", "cmn", "tst", "teq", "nop", "pld", "dmb", "dsb"):
        m = _REG.match(i.operands.strip())
        return m.group(1) if m else None
    return None


def _sources(i: Insn) -> set[str]:
    ops = i.operands
    cls = class_of(i.mnemonic)
    if cls in ("alu", "mac", "load", "dual") and _dest(i) is not None:
        ops = ops.split(",", 1)[1] if "," in ops else ""
    return set(_REG.findall(ops))


def m7_block(insns: list[Insn]) -> tuple[int, int]:
    """Cortex-M7 cycles of a block (the stated dual-issue model): (fall-through, branch taken)."""
    cycles, k, load_dest = 0, 0, None
    solo = ("multiple", "div", "vdiv", "vmultiple", "call", "table", "system", "unknown")
    while k < len(insns):
        a = insns[k]
        ca = class_of(a.mnemonic)
        stall = 1 if load_dest is not None and load_dest in _sources(a) else 0
        cost = {"multiple": 1 + (_reg_count(a.operands) + 1) // 2, "div": DIVIDE, "vdiv": 14,
                "vmultiple": 1 + (_reg_count(a.operands) + 1) // 2, "system": 2}.get(ca, 1)
        step = 1
        if k + 1 < len(insns) and ca not in solo and ca != "branch" and not _writes_pc(a):
            b = insns[k + 1]
            cb = class_of(b.mnemonic)
            mem = {"load", "store", "dual", "vldst"}
            ok = (cb not in solo and not (ca in mem and cb in mem) and not (ca == "mac" and cb == "mac")
                  and not (_dest(a) is not None and _dest(a) in _sources(b)) and not (ca == "load" and cb == "load"))
            if ok:
                step = 2
        cycles += stall + cost
        last = insns[k + step - 1]
        load_dest = _dest(last) if class_of(last.mnemonic) in ("load", "dual") else None
        k += step
    last = insns[-1] if insns else None
    if last is None or not _is_branch(last):
        return cycles, cycles
    cls = class_of(last.mnemonic)
    base, cond = base_of(last.mnemonic)
    conditional = cond or base in ("cbz", "cbnz")
    if not conditional or cls != "branch":
        return cycles, cycles  # unconditional, calls, returns: predicted
    target = _branch_target(last)
    backward = target is not None and target <= last.addr
    if backward:  # predicted taken
        return cycles + M7_MISPREDICT, cycles
    return cycles, cycles + M7_MISPREDICT


def _branch_target(i: Insn) -> int | None:
    m = re.search(r"(?:^|,\s*)([0-9a-f]+)\s*(?:<|$)", i.operands)
    return int(m.group(1), 16) if m else None


BLOCK_MODELS = {"cortex-m4": m4_block, "cortex-m7": m7_block}


# ------------------------------------------------------------------------------- boards

@dataclass(frozen=True)
class Timing:
    """What the estimate needs of a board: core, clock and flash."""

    board: str
    core: str
    clock_hz: int
    wait_states: int = 0
    icache: tuple[int, int] | None = None  # (lines, line bytes)
    dcache: tuple[int, int] | None = None

    @staticmethod
    def of(board: Board) -> "Timing":
        if board.core not in CORES:
            fit = [b.name for b in all_boards().values() if b.core in CORES]
            raise BadInput(f"board {board.name} has a {board.core}: cycles are estimated for {' and '.join(CORES)} boards; "
                           f"pick one of {', '.join(fit)} with --cycles-for")
        t = board.to_json().get("timing", {})

        def cache(k: str) -> tuple[int, int] | None:
            c = t.get(k)
            return (int(c["lines"]), int(c["line_bytes"])) if c else None

        return Timing(board.name, board.core, board.clock_hz, int(t.get("flash_wait_states", 0)), cache("icache"), cache("dcache"))

    def memory_model(self, run_board: Board) -> MemoryModel:
        """The plugin's flash model: the running board's flash region, this board's caches. No wait states:
        nothing to simulate. Wait states without caches: every flash access misses (one-line caches of 4 bytes)."""
        if self.wait_states == 0:
            return MemoryModel()
        flash = (run_board.flash.origin, run_board.flash.origin + run_board.flash.length)
        return MemoryModel(flash, self.icache or (1, 4), self.dcache or (1, 4))

    def assumptions(self) -> str:
        flash = f"{self.wait_states} flash wait states"
        if self.wait_states:
            flash += "".join(f", {name} {c[0]} x {c[1]} B" for name, c in (("I-cache", self.icache), ("D-cache", self.dcache)) if c)
        return f"{self.core} at {self.clock_hz / 1e6:g} MHz, {flash} ({self.board})"


# ------------------------------------------------------------------------------- the estimate

@dataclass
class LayerEstimate:
    index: int
    op: str
    instructions: int
    cycles: int

    def to_json(self) -> dict:
        return {"index": self.index, "op": self.op, "instructions": self.instructions, "cycles": self.cycles}


@dataclass
class CycleEstimate:
    """Estimated cycles of one inference on `timing`'s board: per layer, in total, in milliseconds."""

    timing: Timing
    instructions: int
    cycles: int
    layers: list[LayerEstimate] = field(default_factory=list)
    flash_stall_cycles: int = 0
    overhead_instructions: int = 0  # the per-layer trace points (not part of the inference)
    unknown: dict[str, int] = field(default_factory=dict)  # mnemonics without a timing (weighted 1)

    @property
    def ms(self) -> float:
        return 1000.0 * self.cycles / self.timing.clock_hz

    @property
    def cpi(self) -> float:
        return self.cycles / max(self.instructions, 1)

    def to_json(self) -> dict:
        t = self.timing
        return {
            "board": t.board, "core": t.core, "clock_hz": t.clock_hz, "flash_wait_states": t.wait_states,
            "instructions": self.instructions, "cycles": self.cycles, "ms": round(self.ms, 4),
            "cycles_per_instruction": round(self.cpi, 4), "flash_stall_cycles": self.flash_stall_cycles,
            "layers": [L.to_json() for L in self.layers], "unknown_mnemonics": dict(sorted(self.unknown.items())),
            "method": "qemu-tcg-plugin",
        }


def _block_insns(insns: dict[int, Insn], order: list[int], index: dict[int, int], vaddr: int, n: int) -> list[Insn]:
    k = index.get(vaddr)
    if k is None:
        return []
    return [insns[a] for a in order[k : k + n]]


def estimate(trace: ExecTrace, insns: dict[int, Insn], timing: Timing, layers: list[dict] | None = None) -> CycleEstimate:
    """Weight the executed blocks by `timing`'s core and add flash stalls. `layers`: the build's
    [{"index", "op"}] in schedule order (the manifest's); code after the last layer goes to the total."""
    model = BLOCK_MODELS[timing.core]
    order = sorted(insns)
    index = {a: k for k, a in enumerate(order)}
    cache: dict[tuple[int, int], tuple[int, int]] = {}
    per_instr: dict[int, int] = {}
    per_cycles: dict[int, int] = {}
    unknown: dict[str, int] = {}
    for b in trace.blocks:
        key = (b.vaddr, b.n)
        if key not in cache:
            body = _block_insns(insns, order, index, b.vaddr, b.n)
            if len(body) != b.n:  # code objdump does not show (should not happen): one cycle each
                cache[key] = (b.n, b.n)
            else:
                cache[key] = model(body)
                for i in body:
                    if class_of(i.mnemonic) == "unknown":
                        unknown[base_of(i.mnemonic)[0]] = 0
        fall, taken = cache[key]
        per_instr[b.layer] = per_instr.get(b.layer, 0) + b.n * b.execs
        per_cycles[b.layer] = per_cycles.get(b.layer, 0) + (b.execs - b.taken) * fall + b.taken * taken
        if unknown:
            for i in _block_insns(insns, order, index, b.vaddr, b.n):
                name = base_of(i.mnemonic)[0]
                if name in unknown:
                    unknown[name] += b.execs
    stalls: dict[int, int] = {}
    for layer, m in trace.memory.items():
        stalls[layer] = flash_stalls(m, timing)
    names = layers or []
    out: list[LayerEstimate] = []
    top = max([k for k in per_instr if k >= 0], default=-1)
    for k in range(max(len(names), top + 1)):
        ins, cyc = per_instr.get(k, 0), per_cycles.get(k, 0) + stalls.get(k, 0)
        if k < len(names):
            out.append(LayerEstimate(int(names[k]["index"]), str(names[k]["op"]), ins, cyc))
        elif out:  # after the last trace point: the return from invoke, charged to the last layer
            out[-1].instructions += ins
            out[-1].cycles += cyc
        else:
            out.append(LayerEstimate(k, "", ins, cyc))
    return CycleEstimate(
        timing=timing,
        instructions=sum(v for k, v in per_instr.items() if k >= 0),
        cycles=sum(v for k, v in per_cycles.items() if k >= 0) + sum(v for k, v in stalls.items() if k >= 0),
        layers=out,
        flash_stall_cycles=sum(v for k, v in stalls.items() if k >= 0),
        overhead_instructions=per_instr.get(-1, 0),
        unknown={k: v for k, v in unknown.items() if v},
    )


def flash_stalls(m: LayerMemory, timing: Timing) -> int:
    """Wait-state cycles of one layer's flash misses (see the module's note)."""
    w = timing.wait_states
    if w == 0:
        return 0
    line = (timing.icache or (1, 4))[1]
    return w * m.dmisses + w * m.imisses + max(0, w + 1 - line // 2) * m.imisses_sequential


# ------------------------------------------------------------------------------- running a build

def timing_for(build_board: Board, cycles_for: str | Board | None) -> Timing:
    """The board whose timings the estimate uses: `cycles_for` (a name or a Board), else the build's own.
    Its core must be the build's (the code was compiled for that core)."""
    target = build_board if cycles_for is None else (cycles_for if isinstance(cycles_for, Board) else get_board(cycles_for))
    if target.core != build_board.core:
        raise BadInput(f"--cycles-for {target.name} is a {target.core}, the build is for a {build_board.core} ({build_board.name}): "
                       f"estimate for a {build_board.core} board, or build for a {target.core} one")
    if not build_board.emulated:
        same = [b.name for b in all_boards().values() if b.emulated and b.core == build_board.core]
        raise BadInput(f"the build is for {build_board.name}, real hardware: cycles are estimated from QEMU's execution; "
                       f"build for an emulated {build_board.core} board ({', '.join(same) or 'none known'}) and give --cycles-for {build_board.name}")
    return Timing.of(target)


def traced_device(build_dir: Path, board: Board, timing: Timing, out: Path, timeout: float = 10.0) -> TracedQemuDevice:
    """The build's ELF in QEMU with tinyq's plugin, its trace written to `out`."""
    return TracedQemuDevice(Path(build_dir) / ELF, board, out, timing.memory_model(board), timeout=timeout,
                            fix=f"tinyq build again into {build_dir}")


def estimate_from(trace_path: Path, build_dir: Path, timing: Timing, manifest: Manifest) -> CycleEstimate:
    """The estimate of a finished traced run (its last inference)."""
    trace = read_trace(trace_path)
    insns = disassemble(Path(build_dir) / ELF)
    return estimate(trace, insns, timing, [{"index": L.index, "op": L.op} for L in manifest.layers])


def estimate_build(build_dir: Path, cycles_for: str | Board | None = None, board_name: str | None = None,
                   seed: int = 0, timeout: float = 30.0) -> CycleEstimate:
    """Run one inference of a build (random input, `seed`) in QEMU with tinyq's plugin and estimate its
    cycles on `cycles_for` (a board name; default: the build's own board). For `tinyq bench`."""
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    board = resolve_board(manifest, board_name)
    timing = timing_for(board, cycles_for)
    data = np.random.default_rng(seed).integers(0, 256, manifest.input_bytes, dtype=np.uint8).tobytes()
    with tempfile.TemporaryDirectory(prefix="tinyq-trace-") as tmp:
        out = Path(tmp) / "trace.txt"
        with traced_device(build_dir, board, timing, out, timeout) as dut:
            dut.run(data, manifest.output_bytes, len(manifest.layers))
        return estimate_from(out, build_dir, timing, manifest)


def estimate_elf(elf: Path, run_board: Board | str, cycles_for: str | Board | None = None,
                 function: str = "MicroInterpreter6Invoke", timeout: float = 600.0) -> CycleEstimate:
    """Estimated cycles of one call of `function` in any firmware that runs by itself under QEMU on
    `run_board` (e.g. the TFLM + CMSIS-NN harness of tinyq.checks.baseline_tflm): the one function
    symbol whose (mangled) name contains `function`, from its entry to the return from its one call.
    The whole call is one layer."""
    elf = Path(elf)
    board = run_board if isinstance(run_board, Board) else get_board(run_board)
    timing = timing_for(board, cycles_for)
    names = [n for n in function_symbols(elf) if function in n]
    if len(names) != 1:
        raise BadInput(f"{elf}: {len(names)} functions match {function!r} ({', '.join(sorted(names)[:4])}): name exactly one")
    insns = disassemble(elf)
    window = window_of(elf, insns, start_symbol=names[0], trace_symbol=None)
    with tempfile.TemporaryDirectory(prefix="tinyq-trace-") as tmp:
        out = Path(tmp) / "trace.txt"
        trace_run(elf, board, window, out, timing.memory_model(board), timeout)
        return estimate(read_trace(out), insns, timing, [{"index": 0, "op": names[0]}])
