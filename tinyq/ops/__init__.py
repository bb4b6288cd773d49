"""Op lowerings, one module per kernel family; importing this package fills REGISTRY."""

from tinyq.ops import activation, conv, elementwise, int16, pool, quantize, shape  # noqa: F401  (registration)
from tinyq.ops import float32  # noqa: F401  (float32 lowerings, VARIANTS["float32"])
from tinyq.ops.base import REGISTRY, VARIANTS, KernelCall, Lowering, lowering_for  # noqa: F401
