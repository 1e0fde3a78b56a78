"""The transport's concurrency limiter: a bound on requests in flight, served in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from astria_async import AstriaClient
from astria_async._aio import Limiter


async def _hold(limiter: Limiter, name: str, order: list[str], release: asyncio.Event) -> None:
    async with limiter:
        order.append(name)
        await release.wait()


async def test_no_more_than_its_slots_at_once_and_every_slot_comes_back() -> None:
    limiter, running, most = Limiter(3), 0, 0

    async def one() -> None:
        nonlocal running, most
        async with limiter:
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(one() for _ in range(20)))
    assert most == 3
    assert limiter.free == 3


async def test_take_and_try_take_count_the_free_slots() -> None:
    limiter = Limiter(2)
    await limiter.take()
    assert limiter.try_take()
    assert limiter.free == 0
    assert not limiter.try_take()
    limiter.give()
    limiter.give()
    assert limiter.free == 2


async def test_waiters_are_served_in_arrival_order_before_a_newcomer() -> None:
    limiter, release = Limiter(1), asyncio.Event()
    order: list[str] = []
    assert limiter.try_take()
    tasks = [asyncio.create_task(_hold(limiter, name, order, release)) for name in "abc"]
    await asyncio.sleep(0)
    limiter.give()  # to "a", the first in line, not to whoever asks next
    assert not limiter.try_take()
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert limiter.free == 1


@pytest.mark.parametrize("handed", [False, True], ids=["while-waiting", "as-it-is-handed"])
async def test_a_cancelled_waiter_takes_no_slot_and_passes_on_one_it_was_handed(
        handed: bool) -> None:
    limiter, release = Limiter(1), asyncio.Event()
    order: list[str] = []
    assert limiter.try_take()
    first = asyncio.create_task(_hold(limiter, "first", order, release))
    second = asyncio.create_task(_hold(limiter, "second", order, release))
    await asyncio.sleep(0)
    if handed:
        limiter.give()  # "first" has the slot but has not run yet...
        first.cancel()  # ...and is cancelled before it does
    else:
        first.cancel()
        await asyncio.sleep(0)
        limiter.give()
    release.set()
    await asyncio.wait_for(second, 5)
    assert order == ["second"]
    assert first.cancelled()
    assert limiter.free == 1


@pytest.fixture
async def counting_server() -> AsyncIterator[tuple[TestServer, list[int]]]:
    """A server answering every GET with a tune after 20 ms; the list gets the number of
    requests in its handler at each arrival."""
    seen: list[int] = []
    inside = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal inside
        inside += 1
        seen.append(inside)
        await asyncio.sleep(0.02)
        inside -= 1
        return web.json_response({"id": int(request.match_info["id"]), "title": "t"})

    app = web.Application()
    app.router.add_get("/tunes/{id}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, seen
    finally:
        await server.close()


async def test_max_concurrency_bounds_the_requests_in_flight(
        counting_server: tuple[TestServer, list[int]]) -> None:
    server, seen = counting_server
    async with AstriaClient(api_key="k", base_url=str(server.make_url("")).rstrip("/"),
                            max_concurrency=3) as client:
        tunes = await asyncio.gather(*(client.tunes.get(i) for i in range(1, 13)))
    assert [tune.id for tune in tunes] == list(range(1, 13))
    assert len(seen) == 12
    assert max(seen) == 3
