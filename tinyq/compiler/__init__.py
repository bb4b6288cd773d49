"""The compiler: .tflite -> typed IR (importer) -> passes (folding, lowering, aliasing, fusion,
requantization constants) -> static memory plan (planner) -> C (codegen, through templates/).

Public functions: `compile_tflite` (a model to a planned graph), `generate_library` (to C text),
`write_library` (C text to a directory, atomically), `import_model`, `quant_mode`, `state_size` (bytes a
model keeps across inferences), `target_for`,
`template_env` (the jinja2 environment every generated C file is rendered with), `choose_for_file` (the
patch-based plan for a RAM budget: `PatchPlan`, `Stage`).
"""

from tinyq.compiler.codegen import NAME_RE, Generated, template_env
from tinyq.compiler.codegen import write as write_library
from tinyq.compiler.importer import import_model, quant_mode
from tinyq.compiler.passes import compile_graph, io_outside_arena, state_size
from tinyq.compiler.patch import Stage
from tinyq.compiler.patch_plan import Plan as PatchPlan
from tinyq.compiler.patch_plan import choose_for_file
from tinyq.compiler.pipeline import compile_tflite, generate_library, header_lines
from tinyq.compiler.target import HOST, KERNEL_SETS, Target, target_for

__all__ = [
    "HOST", "KERNEL_SETS", "NAME_RE", "Generated", "Target", "compile_graph", "compile_tflite", "generate_library",
    "PatchPlan", "Stage", "choose_for_file", "header_lines", "import_model", "io_outside_arena", "quant_mode", "state_size", "target_for", "template_env", "write_library",
]
