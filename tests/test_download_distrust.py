"""Downloads trust nothing: empty or short bodies, non-media types, oversized streams, links."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from astria_async import AstriaClient, DownloadError, Prompt
from astria_async._config import DOWNLOAD_MAX_BYTES
from astria_async.download import is_media
from astria_async.testing import png_of_size

PNG = png_of_size(4096)
CAP = 64 * 1024
TYPES = {"sh": "text/x-shellscript", "svg": "image/svg+xml", "xhtml": "application/xhtml+xml",
         "js": "application/javascript", "bin": "application/octet-stream", "none": ""}


async def handle(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "silent":  # accepts, never answers
        await asyncio.sleep(1.5)
    if name in ("stall", "trickle"):
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        await resp.prepare(request)
        for _ in range(8 if name == "trickle" else 1):  # trickle: a piece every 0.1 s
            await resp.write(PNG[:512])
            await asyncio.sleep(0.1)
        if name == "stall":  # part of the body, then nothing
            await asyncio.sleep(1.5)
        await resp.write_eof()
        return resp
    if name == "empty":
        return web.Response(body=b"", content_type="image/png")
    if name in TYPES:
        script = web.Response(body=b"#!/bin/sh\nrm -rf ~\n")
        script.headers["Content-Type"] = TYPES[name]
        return script
    if name == "huge":  # announced too big: refused before a byte is read
        resp = web.StreamResponse(headers={"Content-Type": "image/png",
                                           "Content-Length": str(300 * 2**20)})
        await resp.prepare(request)
        await resp.write(PNG)
        return resp
    resp = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    if name == "short":
        resp.headers["Content-Length"] = str(len(PNG) * 2)
    await resp.prepare(request)
    if name == "short":
        await resp.write(PNG)
        assert request.transport is not None
        request.transport.close()
        return resp
    if name == "endless":  # chunked, no length, never ends
        try:
            while True:
                await resp.write(b"\0" * 8192)
        except (ConnectionResetError, RuntimeError):
            return resp
    await resp.write(PNG)
    await resp.write_eof()
    return resp


@pytest.fixture
async def host() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/img/{name}", handle)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def client() -> AsyncIterator[AstriaClient]:
    async with AstriaClient("sd_k", base_url="http://127.0.0.1:9",
                            download_max_bytes=CAP) as c:
        yield c


def prompt_of(client: AstriaClient, *urls: str) -> Prompt:
    return Prompt.from_dict({"id": 55, "tune_id": 1504944, "text": "<lora:777:1> ohwx man",
                             "images": list(urls)}, client)


async def refused(client: AstriaClient, url: str, folder: Path) -> str:
    with pytest.raises(DownloadError) as info:
        await prompt_of(client, url).download(folder)
    assert info.value.url == url and url in str(info.value)
    return str(info.value)


def test_media_types() -> None:
    assert is_media("image/png") and is_media("IMAGE/JPEG; q=1") and is_media("video/mp4")
    for other in [*TYPES.values(), None, "text/html", "application/json"]:
        assert not is_media(other)
    assert DOWNLOAD_MAX_BYTES == 256 * 2**20


@pytest.mark.parametrize(("name", "problem"), [
    ("empty", "empty body"), ("short", "failed"), ("huge", "Content-Length is 314572800"),
    ("endless", "larger than the download cap of 65536 bytes"),
    *[(kind, "not an image or a video") for kind in TYPES]])
async def test_untrusted_answers_leave_no_file(client: AstriaClient, host: TestServer,
                                               tmp_path: Path, name: str, problem: str) -> None:
    message = await refused(client, str(host.make_url(f"/img/{name}")), tmp_path)
    assert problem in message
    assert "nothing was saved" in message or name == "short"  # short: the library's words
    assert os.listdir(tmp_path) == []


async def test_a_body_shorter_than_its_length(client: AstriaClient, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              host: TestServer) -> None:
    # A server that ends the body early without breaking the connection is caught by the
    # count of bytes, whatever the HTTP library makes of it.
    from astria_async import download

    monkeypatch.setattr(download, "_length", lambda value: len(PNG) + 1)
    message = await refused(client, str(host.make_url("/img/video")), tmp_path)
    assert f"ended after {len(PNG)} of its {len(PNG) + 1} bytes" in message
    assert os.listdir(tmp_path) == []


async def test_a_symlink_at_the_final_name(client: AstriaClient, host: TestServer,
                                           tmp_path: Path) -> None:
    url = str(host.make_url("/img/video"))
    secret = tmp_path / "secret.txt"
    secret.write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    for target in (secret, tmp_path / "nowhere"):
        link = out / "777-55-0.mp4"
        link.symlink_to(target)
        # Listed in a fresh client (a complete-looking file) and not listed (written over).
        async with AstriaClient("sd_k", base_url="http://127.0.0.1:9") as fresh:
            assert "symbolic link" in await refused(fresh, url, out)
        assert "symbolic link" in await refused(client, url, out)
        assert sorted(os.listdir(out)) == ["777-55-0.mp4"] and link.is_symlink()
        link.unlink()
    assert secret.read_text() == "mine"
    [saved] = await prompt_of(client, url).download(out)
    assert saved.read_bytes() == PNG and not saved.is_symlink()


async def test_a_file_where_the_folder_should_be(client: AstriaClient, host: TestServer,
                                                 tmp_path: Path) -> None:
    url = str(host.make_url("/img/video"))
    partial = tmp_path / "out"
    partial.write_bytes(b"\x89PNG half")
    assert "cannot save" in await refused(client, url, partial)
    assert partial.read_bytes() == b"\x89PNG half"


async def test_the_cap_is_configurable(host: TestServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="download_max_bytes"):
        AstriaClient("sd_k", download_max_bytes=0)
    url = str(host.make_url("/img/video"))
    async with AstriaClient("sd_k", download_max_bytes=len(PNG) - 1) as tight:
        assert "larger than the download cap" in await refused(tight, url, tmp_path)
    async with AstriaClient("sd_k", download_max_bytes=len(PNG)) as exact:
        [saved] = await prompt_of(exact, url).download(tmp_path)
    assert saved.read_bytes() == PNG


def test_a_taken_temp_name_is_never_written_through(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The temp file's name is drawn at random; one already there (here a link planted at it)
    # is neither followed nor reused: another name is drawn, and after many, it gives up.
    from astria_async import download

    secret = tmp_path / "secret.txt"
    secret.write_text("mine")
    taken = tmp_path / f".777-55-0.{0:012x}.part"
    taken.symlink_to(secret)
    draws = iter([0, 0, 1])
    monkeypatch.setattr(random, "getrandbits", lambda bits: next(draws))
    fd, path = download._open_temp(str(tmp_path) + os.sep, "777-55-0")
    try:
        os.write(fd, b"image")
    finally:
        os.close(fd)
    assert path == str(tmp_path / f".777-55-0.{1:012x}.part")
    assert secret.read_text() == "mine" and taken.is_symlink()
    monkeypatch.setattr(random, "getrandbits", lambda bits: 0)
    with pytest.raises(FileExistsError, match="no free temporary file name"):
        download._open_temp(str(tmp_path) + os.sep, "777-55-0")
    assert sorted(os.listdir(tmp_path)) == [taken.name, Path(path).name, "secret.txt"]


@pytest.mark.parametrize("name", ["stall", "silent"])
async def test_a_host_that_stops_sending_fails_after_the_read_timeout(
        client: AstriaClient, host: TestServer, tmp_path: Path, name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No data for the read timeout (a minute; 0.3 s here), before the answer's head or in its
    # body, fails the download; nothing is left behind.
    from astria_async import download

    monkeypatch.setattr(download, "DOWNLOAD_READ_TIMEOUT", 0.3)
    started = time.monotonic()
    message = await refused(client, str(host.make_url(f"/img/{name}")), tmp_path)
    assert "sent no data for 0.3 s" in message and "nothing was saved" in message
    assert 0.3 <= time.monotonic() - started < 1.2
    assert os.listdir(tmp_path) == []


async def test_a_slow_host_that_keeps_sending_is_not_a_stall(
        client: AstriaClient, host: TestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async import download

    monkeypatch.setattr(download, "DOWNLOAD_READ_TIMEOUT", 0.3)  # 0.8 s in all, 0.1 s gaps
    [saved] = await prompt_of(client, str(host.make_url("/img/trickle"))).download(tmp_path)
    assert saved.read_bytes() == PNG[:512] * 8


async def test_cancelling_a_download_is_not_turned_into_a_stall(
        client: AstriaClient, host: TestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async import download

    monkeypatch.setattr(download, "DOWNLOAD_READ_TIMEOUT", 0.3)
    task = asyncio.ensure_future(prompt_of(client, str(host.make_url("/img/stall")))
                                 .download(tmp_path))
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # past the read timeout: no late cancellation anywhere
    assert os.listdir(tmp_path) == []
