"""One module per gap between moto and AWS, each applied when imported (``apply_all``).

A patch changes moto's models or responses so the emulator behaves as AWS documents it, or adds
a background service AWS runs on its own side (``control.background``). Patches never change
the code under test: where moto is more lenient than AWS, the emulator is made stricter.
"""

from __future__ import annotations

import importlib
import pkgutil


def apply_all() -> list[str]:
    """Import every patch module (in name order) and return their names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
