"""One `__repr__` for the library's attrs classes, read from their fields when it is called.

attrs writes and compiles a `__repr__` for every class it builds unless the class has its own;
for the classes `from astria_async import AstriaClient` loads, that is 1.5-2.5 ms of start-up
(measured against the same code without it, runs alternating). A class whose body says
`__repr__ = fields_repr` shows the same text without that compile; a call costs a little
more, which a repr can afford.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

# The ids of the objects being shown on this thread, so that one that holds itself shows `...`.
_showing = threading.local()


def fields_repr(self: Any) -> str:
    """`ClassName(field=value, ...)`, as attrs writes it: a field declared with `repr=False`
    left out (an API key, for one), a field's own repr function used, a field that is not set
    shown as `NOTHING`, and an object met again inside itself shown as `...`."""
    ids: set[int] | None = getattr(_showing, "ids", None)
    if ids is None:
        ids = _showing.ids = set()
    key = id(self)
    if key in ids:
        return "..."
    ids.add(key)
    try:
        parts = []
        for field in type(self).__attrs_attrs__:
            if field.repr is False:
                continue
            value = getattr(self, field.name, attrs.NOTHING)
            parts.append(f"{field.name}={repr(value) if field.repr is True else field.repr(value)}")
        return f"{type(self).__qualname__.rsplit('>.', 1)[-1]}({', '.join(parts)})"
    finally:
        ids.discard(key)
