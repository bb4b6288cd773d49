"""Op lowerings, one module per kernel family; importing this package fills REGISTRY."""

from . import activation, conv, elementwise, int16, pool, quantize, shape  # noqa: F401  (registration)
from . import float32  # noqa: F401  (float32 lowerings, VARIANTS["float32"])
from .base import REGISTRY, VARIANTS, KernelCall, Lowering, lowering_for  # noqa: F401
