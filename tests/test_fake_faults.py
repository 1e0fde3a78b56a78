"""FakeAstria: injected faults and the images it serves."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from typing import Any

import aiohttp
import pytest

from astria_async.testing import FakeAstria, png_of_size
from astria_async.testing._png import result_png

TUNE = {"tune": {"title": "t", "name": "man", "branch": "sd15",
                 "image_urls": ["https://example.com/a.jpg"]}}


@pytest.fixture
def fake_options() -> dict[str, Any]:
    return {"prompt_seconds": 5, "image_bytes": 50_000}


async def test_fail_answers_status_body_and_retry_after(fake: FakeAstria) -> None:
    fake.fail("/prompts", 429, count=2, retry_after=7)
    async with fake.session() as session:
        for _ in range(2):
            async with session.get("/prompts/1.json") as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "7"
                assert await response.json() == {"error": "Too Many Requests"}
    assert (await fake.call("GET", "/prompts/1"))[0] == 404  # count used up
    assert [r.fault for r in fake.requests] == ["fail", "fail", None]


async def test_fail_filters_by_method_and_custom_body(fake: FakeAstria) -> None:
    fake.fail("/tunes", 503, method="POST", body="<html>down</html>", count=None)
    assert (await fake.call("GET", "/tunes"))[0] == 200
    assert await fake.call("POST", "/tunes", json=TUNE) == (503, b"<html>down</html>")
    assert (await fake.call("POST", "/tunes", json=TUNE))[0] == 503
    fake.clear_faults()
    assert (await fake.call("POST", "/tunes", json=TUNE))[0] == 201


async def test_fail_after_commit_models_a_504_that_was_processed(fake: FakeAstria) -> None:
    fake.fail("/tunes", 504, after_commit=True)
    status, body = await fake.call("POST", "/tunes", json=TUNE)
    assert (status, body) == (504, {"error": "Gateway Timeout"})
    assert [t["title"] for t in fake.tunes.values()] == ["t"]


async def test_reset_drops_the_connection(fake: FakeAstria) -> None:
    fake.reset("/tunes")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fake.call("POST", "/tunes", json=TUNE)
    assert fake.tunes == {}
    fake.reset("/tunes", after_commit=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fake.call("POST", "/tunes", json=TUNE)
    assert len(fake.tunes) == 1
    assert [(r.status, r.fault) for r in fake.requests] == [(None, "reset"), (None, "reset")]
    assert (await fake.call("GET", "/tunes"))[0] == 200


async def test_slow_delays_and_trips_client_timeouts(fake: FakeAstria) -> None:
    fake.slow("/users", 0.05)
    started = time.monotonic()
    assert (await fake.call("GET", "/users"))[0] == 200
    assert time.monotonic() - started >= 0.05
    fake.slow("/users", 0.2)
    with pytest.raises(asyncio.TimeoutError):
        await fake.call("GET", "/users", timeout=aiohttp.ClientTimeout(total=0.02))


async def test_malformed_is_200_with_a_non_json_body(fake: FakeAstria) -> None:
    fake.malformed("/tunes")
    async with fake.session() as session, session.get("/tunes") as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ContentTypeError):
            await response.json()
    assert (await fake.call("GET", "/tunes"))[1] == []


def _png_chunk_kinds(data: bytes) -> list[bytes]:
    """The chunk types of a PNG whose every CRC checks out."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, kinds = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        kinds.append(kind)
        offset += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    return kinds


def test_png_of_size_is_a_valid_png_of_that_size() -> None:
    data = png_of_size(1_000_000)
    assert len(data) == 1_000_000
    _png_chunk_kinds(data)
    assert png_of_size(1_000_000) is data  # built once, cached


@pytest.mark.parametrize("size", [2_000, 4_107, 4_108, 8_192, 1_000_000])
def test_result_pngs_are_valid_exact_and_distinct(size: int) -> None:
    pictures = {result_png(size, prompt, index) for prompt in (1, 2) for index in range(3)}
    assert len(pictures) == 6
    for data in pictures:
        assert len(data) == size
        _png_chunk_kinds(data)


async def test_result_images_are_png_without_extension(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    prompt = fake.add_prompt(tune["id"], "sks man", num_images=2)
    token_path = f"/mp/{next(iter(fake.store.image_owner))}"
    assert (await fake.call("GET", token_path))[0] == 404  # not done yet
    await fake.advance(5)
    urls = fake.prompt(prompt["id"])["images"]
    assert len(urls) == 2
    other = fake.add_prompt(tune["id"], "sks man, again")
    await fake.advance(5)
    urls.append(fake.prompt(other["id"])["images"][0])
    bodies = []
    async with aiohttp.ClientSession() as anonymous:  # image URLs are public
        for url in urls:
            assert url.startswith(f"{fake.url}/mp/") and "." not in url.rsplit("/", 1)[1]
            async with anonymous.get(url) as response:
                assert response.status == 200
                assert response.content_type == "image/png"
                bodies.append(await response.read())
    # Each prompt and each index gets its own picture, all of the configured size.
    assert all(len(b) == 50_000 and b[:8] == b"\x89PNG\r\n\x1a\n" for b in bodies)
    assert len(set(bodies)) == 3
    assert await fake.call("HEAD", urls[0].removeprefix(fake.url)) == (200, b"")
    await fake.call("DELETE", f"/prompts/{prompt['id']}")
    assert (await fake.call("GET", urls[0].removeprefix(fake.url)))[0] == 404


async def test_slow_after_commit_stores_the_create_then_holds_the_answer(
    fake: FakeAstria,
) -> None:
    fake.slow("/tunes", 0.3, method="POST", after_commit=True)
    with pytest.raises(asyncio.TimeoutError):
        await fake.call("POST", "/tunes", json=TUNE, timeout=aiohttp.ClientTimeout(total=0.05))
    # The client gave up, yet the tune exists: re-sending would buy a second one.
    assert [t["title"] for t in fake.tunes.values()] == ["t"]
    assert [(r.method, r.status, r.fault) for r in fake.requests] == [("POST", 201, None)]
    assert (await fake.call("GET", "/tunes"))[1][0]["title"] == "t"  # the rule was used up


async def test_slow_before_serving_leaves_nothing_after_a_client_timeout(
    fake: FakeAstria,
) -> None:
    fake.slow("/tunes", 0.3, method="POST")
    with pytest.raises(asyncio.TimeoutError):
        await fake.call("POST", "/tunes", json=TUNE, timeout=aiohttp.ClientTimeout(total=0.05))
    await asyncio.sleep(0.4)  # the held request reaches the handler, its client gone
    assert fake.tunes == {}
    assert [(r.method, r.status) for r in fake.requests] == [("POST", None)]
