"""Hostile answer bodies (nested, huge, not JSON) become typed errors, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from astria_async import AstriaClient, ConfigurationError, WaitPolicy, errors
from astria_async._json import loads
from astria_async.testing import FakeAstria

DEEP = "[" * 200_000 + "]" * 200_000


def test_loads_decodes_json_and_types_every_failure() -> None:
    assert loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert loads('"x"') == "x"
    with pytest.raises(errors.APIResponseValidationError, match="nested too deeply"):
        loads(DEEP)
    with pytest.raises(errors.APIResponseValidationError, match="not JSON"):
        loads(b"<html>")
    with pytest.raises(errors.APIResponseValidationError, match="not JSON"):
        loads(b'"\xff\xfe"')  # not UTF-8
    with pytest.raises(errors.APIResponseValidationError, match="not JSON"):
        loads("1" * 100_000)  # past Python's integer digit limit


async def test_deeply_nested_answer_is_a_validation_error(fake: FakeAstria) -> None:
    fake.malformed("/tunes/1", body=DEEP)
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url) as client:
        with pytest.raises(errors.APIResponseValidationError, match="nested too deeply"):
            await client.tunes.get(1)


async def test_deeply_nested_error_body_keeps_the_status_error(fake: FakeAstria) -> None:
    fake.fail("/tunes/1", 404, body=DEEP)
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url) as client:
        with pytest.raises(errors.NotFoundError):
            await client.tunes.get(1)


async def test_declared_body_over_the_cap_is_refused_unread(fake: FakeAstria) -> None:
    fake.malformed("/tunes/1", body=json.dumps({"id": 1, "pad": "x" * 5000}))
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url,
                            max_response_bytes=4096) as client:
        with pytest.raises(errors.APIResponseValidationError,
                           match=r"max_response_bytes \(4096 bytes; declared"):
            await client.tunes.get(1)


@contextlib.asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> AsyncIterator[str]:
    """An aiohttp server answering `GET /tunes/1` with `handler`; yields its URL."""
    app = web.Application()
    app.router.add_get("/tunes/1", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def endless() -> AsyncIterator[tuple[str, list[int]]]:
    """A server streaming a chunked body without Content-Length; counts the bytes it sent."""
    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(400):  # 400 x 64 KB = 25 MB unless the client stops reading
                await response.write(b"[" + b"0," * 32_000 + b"0]")
                sent[0] += 64_003
        except (ConnectionResetError, OSError):
            pass
        return response

    async with serving(handler) as url:
        yield url, sent


async def test_compressed_body_over_the_cap_is_refused() -> None:
    # A declared length within the cap says nothing of the decoded size: 2 MB of JSON gzipped
    # to a few KB must still stop at the cap, not be read in one piece.
    body = gzip.compress(b"[" + b"0," * 1_000_000 + b"0]")

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip",
                                                "Content-Type": "application/json"})

    async with serving(handler) as url, AstriaClient(
            api_key="k", base_url=url, max_response_bytes=256_000) as client:
        assert len(body) < 256_000
        with pytest.raises(errors.APIResponseValidationError, match=r"max_response_bytes.*more"):
            await client.tunes.get(1)


async def test_streamed_body_over_the_cap_stops_reading(
        endless: tuple[str, list[int]]) -> None:
    url, sent = endless
    async with AstriaClient(api_key="k", base_url=url, max_response_bytes=256_000) as client:
        with pytest.raises(errors.APIResponseValidationError, match="max_response_bytes"):
            await client.tunes.get(1)
    assert sent[0] < 25_000_000  # the client hung up; it never took the whole body


def test_max_response_bytes_is_checked() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigurationError, match="max_response_bytes"):
            AstriaClient(api_key="k", max_response_bytes=bad)  # type: ignore[arg-type]


def test_the_accelerator_and_the_reference_decode_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async import _json

    body = b'{"id": 1, "big": 123456789012345678901234567890, "images": ["u"]}'
    calls: list[object] = []

    def refusing(data: bytes | str) -> object:
        calls.append(data)
        raise ValueError("integer exceeds 64-bit range")  # as orjson does

    monkeypatch.setattr(_json, "_fast", refusing)
    assert _json.loads(body)["big"] == 123456789012345678901234567890 and calls == [body]
    monkeypatch.setattr(_json, "_fast", lambda data: {"fast": True})
    assert _json.loads(body) == {"fast": True}
    monkeypatch.setattr(_json, "_fast", None)
    assert _json.loads(body)["images"] == ["u"]
    with pytest.raises(errors.APIResponseValidationError, match="not JSON"):
        _json.loads(b"{")


async def test_a_nested_answer_to_a_board_refresh_does_not_end_the_waits(
        fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")["id"]
    pid = fake.add_prompt(tune, "sks man")["id"]
    fake.malformed("/prompts/", body=DEEP)
    quick = WaitPolicy(interval=0.05, max_interval=0.05, jitter=0, timeout=30)
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url, prompt_wait=quick) as c:
        wait = asyncio.ensure_future(c.prompts.wait_images(pid))
        for _ in range(500):  # until the nested answer, then a good one, were read
            if fake.count("GET", "/prompts/*") >= 2:
                break
            await asyncio.sleep(0.01)
        assert not wait.done()  # a transient refresh failure, not the end of the wait
        fake.clock.advance(3600)
        assert (await asyncio.wait_for(wait, 5)).succeeded
