"""pytest plugin (entry point ``astria_async``): ``astria_fake`` and ``astria_client`` fixtures.

The async fixtures exist only when pytest-asyncio is installed, so merely having
astria_async in an environment never breaks anyone's pytest.  An ``async def``
test that takes one of them is marked ``asyncio`` by the plugin, so it runs
without ``asyncio_mode = "auto"`` or a marker of your own (a test that gets them
only through another fixture still needs ``@pytest.mark.asyncio``).  Override
``astria_fake_options`` to change the fake's settings, e.g. for a manual clock::

    @pytest.fixture
    def astria_fake_options():
        return {"clock": FakeClock.manual()}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._fake import FakeAstria

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in a subprocess test
    pytest_asyncio = None  # type: ignore[assignment]


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    """FakeAstria keyword arguments: real time with sub-second training and prompts."""
    return {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.1}


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def astria_fake(astria_fake_options: dict[str, Any]) -> AsyncIterator[FakeAstria]:
        """A running FakeAstria on 127.0.0.1."""
        async with FakeAstria(**astria_fake_options) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def astria_client(astria_fake: FakeAstria) -> AsyncIterator[Any]:
        """An ``astria_async.AstriaClient`` pointed at ``astria_fake``, closed afterwards."""
        # Imported here so loading the plugin never imports the client package.
        client_cls: Any = importlib.import_module("astria_async").AstriaClient
        async with client_cls(api_key=astria_fake.api_key, base_url=astria_fake.url) as client:
            yield client

    _FIXTURES = frozenset({"astria_fake", "astria_client"})

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> None:
        """Mark ``async def`` tests that take our fixtures as asyncio, before collection."""
        if not (inspect.iscoroutinefunction(obj) and collector.funcnamefilter(name)):
            return
        try:
            wanted = set(inspect.signature(obj).parameters) & _FIXTURES
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            return
        marks = getattr(obj, "pytestmark", [])
        if wanted and not any(getattr(m, "name", None) == "asyncio" for m in marks):
            pytest.mark.asyncio(obj)
