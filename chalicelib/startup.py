"""What a cold start asks of the garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def imports_without_gc() -> Iterator[None]:
    """Import the app with the cyclic garbage collector paused, then freeze what was imported.

    Importing the portal makes hundreds of thousands of objects (modules, classes, PynamoDB models)
    that live as long as the process. None of them is garbage, yet the collector would walk them again
    and again while importing and on the first request (botocore parsing a service description).
    Frozen, they move to the permanent generation and are never scanned again; everything made
    afterwards is collected as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
