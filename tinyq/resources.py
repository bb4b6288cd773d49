"""Where tinyq's C runtime and templates live (next to the package in the source tree)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
KERNELS = FIRMWARE / "kernels"
TEMPLATES = ROOT / "templates"
BOARDS = ROOT / "boards"
