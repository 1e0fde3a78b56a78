"""Shared test setup."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from _faketime import FakeTime
from yarl import URL

from astria_async.testing import FakeAstria, FakeClock

_NEEDS_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required `stream_writer` argument."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


if _NEEDS_WRITER:
    setattr(aioresponses.core, "ClientResponse", _CompatResponse)  # noqa: B010 (not re-exported)


@pytest.fixture(autouse=True)
def _no_user_cli_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
                        ) -> None:
    """Keep the developer's ~/.astria (Astria's CLI config, read when no key is set) out."""
    monkeypatch.setenv("ASTRIA_CONFIG_DIR", str(tmp_path_factory.mktemp("astria-config")))
    monkeypatch.delenv("ASTRIA_PROFILE", raising=False)


@pytest.fixture
def mocked() -> Iterator[aioresponses.aioresponses]:
    """HTTP answered by aioresponses (nothing reaches the network)."""
    with aioresponses.aioresponses() as m:
        yield m


@pytest.fixture
def ft() -> FakeTime:
    """A fake monotonic clock and sleep (see `_faketime`)."""
    return FakeTime()


@pytest.fixture
def fake_options() -> dict[str, Any]:
    """Options of the `fake` fixture beyond a manual clock; a test module overrides it."""
    return {}


@pytest.fixture
async def fake(fake_options: dict[str, Any]) -> AsyncIterator[FakeAstria]:
    """A FakeAstria on a manual clock that must end without an internal error."""
    async with FakeAstria(**{"clock": FakeClock.manual(), **fake_options}) as server:
        yield server
        assert server.errors == []
