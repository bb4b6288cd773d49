"""qemu-m0: ARMv6-M code executed (QEMU's microbit machine: an nRF51's Cortex-M0, which faults on an
unaligned LDR and on any Thumb-2 instruction, with 16 KB of RAM and its nRF UART as the console).

One small model of every layer kind the small models use (CONV_2D, DEPTHWISE_CONV_2D, ADD, MAX and
AVERAGE pooling, FULLY_CONNECTED, SOFTMAX), in int8 and in int16x8, runs bit-exact on it (edge and
random inputs), with at least 512 B of its stack never reached (read from QEMU's memory); its image
holds only ARMv6-M instructions and counts instructions to within one (SysTick at 16 MHz under -icount
shift=6); a model whose activations cannot fit 16 KB is refused in one line; and the core does trap
an unaligned word load. The kernel tests' core
lists (test_fast_requant, test_fast_int16, test_fast_depthwise_fc, test_ops_lstm) and test_firmware's
matrix (the keyword-spotting model) run more models on it, and so does every per-op module: each
tests/test_ops_*.py ends with test_bit_exact_on_qemu_m0 (added by conftest.py), which runs every model
the module's tests verified on the host, merged a few dozen to a firmware (tests/m0_cases.py,
tests/merge_models.py), bit-exact on this board (float32 ones soft-float); those whose arena does not fit
are listed with their size.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import keras
import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.device.qemu import qemu_binary

from .conftest import run_tinyq
from .helpers import (
    assert_one_line_failure,
    randomize_weights,
    stack_used,
    write_tflite,
)

L = keras.layers
BOARD = "qemu-m0"
OBJDUMP = shutil.which("arm-none-eabi-objdump") or "arm-none-eabi-objdump"
V6M_WIDE = {"bl", "msr", "mrs", "dsb", "dmb", "isb"}  # ARMv6-M's only 32-bit encodings


def _every_layer_kind() -> keras.Model:
    keras.utils.set_random_seed(17)
    inp = keras.Input((10, 10, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = L.DepthwiseConv2D(3, padding="same")(x)
    z = L.Add()([x, y])
    p = L.MaxPooling2D(2)(z)
    q = L.AveragePooling2D(2, padding="same")(L.Conv2D(5, 1)(p))
    f = L.Dense(7)(L.Flatten()(q))
    return keras.Model(inp, [L.Softmax()(f), z])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("m0")
    rng = np.random.default_rng(17)
    model = _every_layer_kind()
    randomize_weights(model, rng)
    calib = rng.uniform(-1.0, 2.0, size=(16, 10, 10, 3)).astype(np.float32)
    return {mode: write_tflite(d, f"kinds_{mode}", model, [calib], mode=mode) for mode in ("int8", "int16x8")}


def test_the_board_is_armv6m_with_exact_instruction_counts():
    b = get_board(BOARD)
    assert b.core == "cortex-m0" and b.extensions == () and b.fpu is None and "-mcpu=cortex-m0" in b.cflags
    assert b.emulator["machine"] == "microbit" and b.ram.length == 16384
    # -icount shift=6: an instruction is 64 ns, a 16 MHz tick 62.5 ns: instructions = ticks x 125/128.
    assert b.cycles_ratio() == (125, 128)


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
def test_every_layer_kind_bit_exact_on_a_cortex_m0(models, mode, tmp_path):
    res = build(models[mode], get_board(BOARD), tmp_path / "b")
    assert res.sizes.fits and res.sizes.ram <= 16384
    ops = {layer.op.split()[-1] for layer in res.manifest.layers}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops, ops
    assert "console_nrf_uart.c" in {p.name for p in (res.out_dir / "src").iterdir()}
    if mode == "int8":
        dis = subprocess.run([OBJDUMP, "-d", "-j", ".text", str(res.elf)], capture_output=True, text=True, check=True).stdout
        wide = [m.group(0).strip() for m in re.finditer(r"^\s*[0-9a-f]+:\s+[0-9a-f]{4} [0-9a-f]{4}\s+([a-z][a-z0-9.]*).*$", dis, re.M)
                if m.group(1) not in V6M_WIDE]
        assert not wide, f"Thumb-2 instructions in an ARMv6-M build: {wide[:5]}"
    run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
    assert run.samples >= 5 and run.bit_exact, run.first_mismatch
    assert run.cycle_source == "icount" and run.cycle_unit == "instructions"
    for total, layers in zip(run.cycles, run.layer_cycles):
        assert 0.99 * total < sum(layers) <= total
    used = stack_used(res, models[mode], tmp_path)
    assert 256 < used <= res.board.stack_bytes - 512, f"{used} B of {res.board.stack_bytes} B of stack"


# A word load from address 0x20000101, then "B" on the console; the HardFault handler writes "F".
# Both then stop QEMU (semihosting SYS_EXIT).
UNALIGNED_C = r"""
#include <stdint.h>
#define UART(off) (*(volatile uint32_t *)(CONSOLE + (off)))
static void put(char c) { UART(0x51Cu) = (uint8_t)c; while (UART(0x11Cu) == 0u) {} UART(0x11Cu) = 0u; }
static void stop(void)
{
    __asm volatile("movs r0, #0x18\n\tldr r1, =0x20026\n\tbkpt 0xab" ::: "r0", "r1", "memory");
    for (;;) {}
}
void fault(void) { put('F'); put('\n'); stop(); }
void start(void)
{
    uint32_t at = 0x20000101u, v;
    UART(0x500u) = 4u; UART(0x008u) = 1u;  /* ENABLE, STARTTX */
    put('A');
    __asm volatile("ldr %0, [%1]" : "=r"(v) : "r"(at));
    (void)v;
    put('B'); put('\n'); stop();
}
__attribute__((section(".vectors"))) void (*const vectors[16])(void) = {
    (void (*)(void))0x20004000u, start, fault, fault, fault, fault, fault, fault, 0, 0, 0, fault, fault, 0, fault, fault};
"""


def test_the_emulated_core_faults_on_an_unaligned_load(tmp_path):
    """What makes these runs worth having: QEMU's Cortex-M0 traps an unaligned LDR (as the M0+ does),
    where the M3's and M4's would let it pass, so a kernel that loads a word from an odd address fails here."""
    b = get_board(BOARD)
    (tmp_path / "t.c").write_text(UNALIGNED_C)
    (tmp_path / "t.ld").write_text("SECTIONS { . = 0; .text : { KEEP(*(.vectors)) *(.text*) } }\n")
    subprocess.run(["arm-none-eabi-gcc", *b.cflags, "-O1", "-nostdlib", f"-DCONSOLE={b.console['base']}u", "-T", "t.ld", "t.c",
                    "-o", "t.elf"], cwd=tmp_path, check=True)
    r = subprocess.run([qemu_binary(), "-M", b.emulator["machine"], "-display", "none", "-monitor", "none", "-semihosting",
                        "-serial", "stdio", "-kernel", str(tmp_path / "t.elf")], capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    assert r.stdout == b"AF\n", r


def test_activations_beyond_16_kb_are_refused_in_one_line(tmp_path, resnet):
    r = run_tinyq("build", resnet, "--board", BOARD, "-o", tmp_path / "b")
    line = assert_one_line_failure(r, "qemu-m0's RAM", "plain plan needs", "B over")
    assert re.search(r"RAM \([\d,]+ B for inference\)", line), line
    assert not (tmp_path / "b").exists()


def test_merged_models_compute_what_their_parts_do():
    """tests/merge_models.py, which the per-op modules' M0 runs rest on: three one-op models (one with a
    constant, two of the same operator code) side by side give, on the reference interpreter, each part's
    own outputs in order; a model of two subgraphs is refused by name."""
    from ai_edge_litert import schema_py_generated as schema

    from .helpers import one_op_model, pack_model, ref_interpreter, tensor_spec
    from .merge_models import NotMergeable, merge

    q = (0.05, 3)
    parts = [
        one_op_model("ADD", [tensor_spec((1, 4), "int8", q), tensor_spec((1, 4), "int8", q, data=[1, -2, 3, -4])],
                     [tensor_spec((1, 4), "int8", (0.1, -5))], schema.AddOptionsT(), schema.BuiltinOptions.AddOptions),
        one_op_model("RELU", [tensor_spec((2, 3), "int8", q)], [tensor_spec((2, 3), "int8", q)]),
        one_op_model("ADD", [tensor_spec((1, 2), "int16", (0.01, 0)), tensor_spec((1, 2), "int16", (0.01, 0))],
                     [tensor_spec((1, 2), "int16", (0.02, 0))], schema.AddOptionsT(), schema.BuiltinOptions.AddOptions),
    ]
    merged = merge(parts)
    m = schema.ModelT.InitFromPackedBuf(merged, 0)
    assert len(m.operatorCodes) == 2 and len(m.subgraphs[0].operators) == 3
    rng = np.random.default_rng(5)

    def run(model: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
        it = ref_interpreter(model)
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]

    xs = [[rng.integers(-100, 100, size=d["shape"]).astype(d["dtype"]) for d in ref_interpreter(p).get_input_details()]
          for p in parts]
    want = [o for p, x in zip(parts, xs) for o in run(p, x)]
    got = run(merged, [a for x in xs for a in x])
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    two = schema.ModelT.InitFromPackedBuf(parts[1], 0)
    two.subgraphs.append(two.subgraphs[0])
    with pytest.raises(NotMergeable, match="part 1: 2 subgraphs"):
        merge([parts[0], pack_model(two)])
