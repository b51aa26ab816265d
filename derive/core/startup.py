"""Start-up without the cycle collector: importing SymPy and NumPy makes over 100,000 tracked objects.

CPython's cycle collector runs every 700 new container objects and, now and
then, over every object alive; while SymPy and NumPy are imported that is
pure overhead (modules, classes and functions are not garbage), about a tenth
of a short command's CPU time. `imports_paused()` turns the collector off
while the heavy modules are imported and then moves everything alive into the
permanent generation (`gc.freeze`), so that the collections during the work
look at the work's own objects only. The work itself still runs with the
collector on: nothing here changes what is collected after start-up.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def imports_paused() -> Iterator[None]:
    """Import inside this block with the cycle collector off; on leaving, freeze what is alive and turn it on.

    Nested or repeated use is harmless; when the collector was already off (a caller's
    choice) it is left off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
