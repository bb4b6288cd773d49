"""Op lowerings, one module per kernel family; importing this package fills REGISTRY."""

from . import activation, conv, elementwise, pool, quantize, shape  # noqa: F401  (registration)
from .base import REGISTRY, VARIANTS, KernelCall, Lowering, lowering_for  # noqa: F401
