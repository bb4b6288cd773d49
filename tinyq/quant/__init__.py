"""Quantization: Keras -> full-integer TFLite through TensorFlow's converter (convert), quantization-
aware training layers (qat), per-layer quantization error against the float model (error), and the
small digits data set the demo and tests train on (datasets). TensorFlow is imported only when used.

Public: `convert_keras`, `convert_file`, `quant_error`.
"""

from tinyq.quant.convert import convert_file, convert_keras
from tinyq.quant.error import quant_error

__all__ = ["convert_file", "convert_keras", "quant_error"]
