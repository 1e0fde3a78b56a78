"""The library's attrs classes share one reflective `__repr__` (`fields_repr`): the text attrs
would write, without a `__repr__` compiled per class at import (start-up time, measured by
`benchmarks/bench_cli.py`)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import attrs
import pytest

import astria_async
from astria_async import FairUsePolicy, RetryPolicy, User, WaitPolicy
from astria_async._config import KeySource
from astria_async._fields_repr import fields_repr
from astria_async._routing import Route


def test_reprs_read_as_attrs_writes_them() -> None:
    assert repr(WaitPolicy()) == ("WaitPolicy(interval=2.0, multiplier=1.5, max_interval=10.0, "
                                  "jitter=0.1, timeout=900.0)")
    assert repr(RetryPolicy(max_retries=1)).startswith("RetryPolicy(max_retries=1, ")
    assert repr(FairUsePolicy(max_in_flight=3)).count("max_in_flight=3") == 1
    assert repr(User(id=1, name="ann")) == (
        "User(id=1, name='ann', email=None, usd_balance_mc=None, auto_extend_tunes=None, "
        "top_off_amount=None, purchased_plugin_at=None)")
    assert repr(Route(tune_id=1, text="x")) == "Route(tune_id=1, text='x', via=None, token=None)"


def test_a_field_kept_out_of_repr_stays_out() -> None:
    text = repr(KeySource("sk-secret-123", "ASTRIA_API_KEY", {"k": "v"}))
    assert "sk-secret-123" not in text and "'v'" not in text
    assert text == "KeySource(source='ASTRIA_API_KEY', others=())"


@attrs.define(eq=False)
class _Node:
    name: str
    masked: str = attrs.field(default="hidden", repr=lambda value: "*" * len(value))
    child: Any = None
    later: int = attrs.field(init=False)

    __repr__ = fields_repr


def test_own_repr_callables_unset_fields_and_cycles() -> None:
    node = _Node("a")
    node.child = node
    assert repr(node) == "_Node(name='a', masked=******, child=..., later=NOTHING)"
    node.later = 2
    assert repr([node, node]).count("later=2") == 2  # the cycle guard is released after each


def _library_attrs_classes() -> list[type[Any]]:
    found = []
    for info in pkgutil.walk_packages(astria_async.__path__, "astria_async."):
        if info.name.endswith("__main__"):  # runs the CLI
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra (redis, fastapi, ...) that is not installed
            continue
        found += [value for value in vars(module).values() if isinstance(value, type)
                  and attrs.has(value) and value.__module__ == info.name]
    return found


@pytest.mark.parametrize("cls", _library_attrs_classes(), ids=lambda cls: cls.__qualname__)
def test_no_library_class_compiles_its_own_attrs_repr(cls: type[Any]) -> None:
    # attrs compiles a `__repr__` per class (~0.3 ms each at import) unless the class has one.
    assert not cls.__repr__.__code__.co_filename.startswith("<attrs generated")
