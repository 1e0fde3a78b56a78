"""Downloads: names, extensions from Content-Type, atomic files, skips, faults, no API key."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from astria_async import APIConnectionError, AstriaClient, DownloadError, Prompt, WaitPolicy
from astria_async.download import extension
from astria_async.testing import FakeAstria, png_of_size

KEY = "sd_DOWNLOADKEY"
PNG = png_of_size(64 * 1024)
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 5000


@dataclass
class Host:
    """An image host: serves PNGs, can cut a body mid-stream, records what it was sent."""

    server: TestServer | None = None
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    cut: dict[str, int] = field(default_factory=dict)  # name -> times left to cut mid-stream
    stall: set[str] = field(default_factory=set)  # names whose body stops halfway (until closed)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    peak: int = 0
    delay: float = 0.0

    def url(self, name: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/img/{name}"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.seen.append((name, dict(request.headers)))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if name.startswith("json"):
                return web.json_response({"id": 1})
            if name.startswith("missing"):
                return web.Response(status=404)
            body, ctype = (JPEG, "image/jpeg") if name.startswith("jpeg") else (PNG, "image/png")
            resp = web.StreamResponse(headers={"Content-Type": ctype,
                                               "Content-Length": str(len(body))})
            await resp.prepare(request)
            if name in self.stall:
                await resp.write(body[: len(body) // 2])
                self.stalled.set()
                await self.closing.wait()
                return resp
            if self.cut.get(name, 0) > 0:
                self.cut[name] -= 1
                await resp.write(body[: len(body) // 2])
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-body
                return resp
            await resp.write(body)
            await resp.write_eof()
            return resp
        finally:
            self.active -= 1

    def requests(self, name: str) -> int:
        return sum(1 for n, _ in self.seen if n == name)


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    h = Host()
    app = web.Application()
    app.router.add_get("/img/{name}", h.handle)
    h.server = TestServer(app)
    await h.server.start_server()
    yield h
    h.closing.set()
    await h.server.close()


@pytest.fixture
async def client() -> AsyncIterator[AstriaClient]:
    async with AstriaClient(KEY, base_url="http://127.0.0.1:9", download_concurrency=2) as c:
        yield c


def _prompt(client: AstriaClient, images: list[str], **extra: Any) -> Prompt:
    data = {"id": 55, "tune_id": 1504944, "text": "<lora:777:1> ohwx man", "images": images,
            "url": "https://api.astria.ai/tunes/1504944/prompts/55.json", **extra}
    return Prompt.from_dict(data, client)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_extension_from_content_type() -> None:
    assert extension("image/png") == ".png"
    assert extension("image/jpeg; charset=binary") == ".jpg"
    assert extension("IMAGE/WEBP") == ".webp"
    assert extension("video/mp4") == ".mp4"
    assert extension(None) == ".bin" and extension("application/x-unknown-thing") == ".bin"


async def test_a_write_that_takes_part_of_a_chunk_is_completed(
        client: AstriaClient, host: Host, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # write(2) may take fewer bytes than asked (a signal): the rest is written after them.
    real = os.write
    calls: list[int] = []

    def short(fd: int, data: Any) -> int:
        calls.append(len(data))
        return real(fd, bytes(data[:1000]))

    monkeypatch.setattr(os, "write", short)
    paths = await _prompt(client, [host.url("a")]).download(tmp_path)
    assert paths[0].read_bytes() == PNG
    assert len(calls) > len(PNG) // 1000


async def test_a_file_that_takes_no_more_bytes_fails_the_download(
        client: AstriaClient, host: Host, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:10])) and 0)
    with pytest.raises(DownloadError, match="took no more bytes"):
        await _prompt(client, [host.url("a")]).download(tmp_path)
    assert _files(tmp_path) == []


def test_content_types_seen_are_remembered_within_a_bound() -> None:
    from astria_async import download

    for i in range(600):  # a host that sends a new parameter every time
        assert download._saved_as(f"image/png; v={i}") == ".png"
        assert download._saved_as(f"text/html; v={i}") is None
        assert len(download._SAVED_AS) <= 256
    assert download._saved_as("image/svg+xml") is None
    assert download._saved_as("VIDEO/MP4") == ".mp4"


async def test_names_types_and_no_api_key(client: AstriaClient, host: Host,
                                          tmp_path: Path) -> None:
    prompt = _prompt(client, [host.url("a"), host.url("jpeg-b")])
    paths = await prompt.download(tmp_path / "out")
    # The LoRA prompt is named after the referenced tune (777), not the base model.
    assert [p.name for p in paths] == ["777-55-0.png", "777-55-1.jpg"]
    assert paths[0].read_bytes() == PNG and paths[1].read_bytes() == JPEG
    assert _files(tmp_path / "out") == ["777-55-0.png", "777-55-1.jpg"]
    for _, headers in host.seen:
        assert "Authorization" not in headers and KEY not in str(headers)
    # A checkpoint prompt is named after its own tune.
    plain = Prompt.from_dict({"id": 9, "tune_id": 321, "text": "sks man",
                              "images": [host.url("c")]}, client)
    assert [p.name for p in await plain.download(tmp_path)] == ["321-9-0.png"]


async def test_complete_files_are_skipped(client: AstriaClient, host: Host,
                                          tmp_path: Path) -> None:
    prompt = _prompt(client, [host.url("a"), host.url("b")])
    first = await prompt.download(tmp_path)
    again = await prompt.download(tmp_path)
    assert first == again and len(host.seen) == 2


async def test_complete_files_found_by_extension(client: AstriaClient, host: Host,
                                                 tmp_path: Path) -> None:
    # A complete file from an earlier run, whatever its extension: not fetched again.
    (tmp_path / "777-55-0.webp").write_bytes(b"RIFF")
    paths = await _prompt(client, [host.url("a"), host.url("b")]).download(tmp_path)
    assert [p.name for p in paths] == ["777-55-0.webp", "777-55-1.png"]
    assert [n for n, _ in host.seen] == ["b"]
    # After the folder was listed: files appearing or disappearing are still seen.
    (tmp_path / "777-55-2.png").write_bytes(PNG)
    (tmp_path / "777-55-1.png").unlink()
    paths = await _prompt(client, [host.url(n) for n in "abc"]).download(tmp_path)
    assert [p.name for p in paths] == ["777-55-0.webp", "777-55-1.png", "777-55-2.png"]
    assert [n for n, _ in host.seen] == ["b", "b"]


async def test_folder_listed_once_and_recreated(client: AstriaClient, host: Host,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async import download

    scans: list[Path] = []
    real = download._Folder._list

    def spy(folder: str, limit: int | None) -> tuple[download._Folder, bool]:
        scans.append(Path(folder))
        return real(folder, limit)

    monkeypatch.setattr(download._Folder, "_list", spy)
    out = tmp_path / "out"
    prompts = [Prompt.from_dict({"id": i, "tune_id": 7, "text": "sks man",
                                 "images": [host.url(f"n{i}")]}, client) for i in range(1, 9)]
    await asyncio.gather(*(p.download(out) for p in prompts))
    assert [s.name for s in scans] == ["out"] and len(_files(out)) == 8
    # Removed behind the client's back: made again and filled again, without a new listing.
    for path in out.iterdir():
        path.unlink()
    out.rmdir()
    await prompts[0].download(out)
    assert len(scans) == 1 and _files(out) == ["7-1-0.png"]


@pytest.mark.parametrize(("entries", "threads"), [(0, 0), (63, 0), (64, 1)])
async def test_a_small_folder_is_listed_on_the_loop(
        client: AstriaClient, host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        entries: int, threads: int) -> None:
    # A thread and every prompt waiting for it cost more than one readdir of a few entries;
    # a big folder (it could hold a million files) is still listed in a thread.
    out = tmp_path / "out"
    out.mkdir()
    for i in range(entries):
        (out / f"other-{i}.txt").write_bytes(b"")
    (out / "7-1-0.png").write_bytes(PNG)  # complete already: found by the listing (64 at most)
    sent: list[object] = []
    to_thread = asyncio.to_thread

    async def counted(func: Any, /, *args: Any) -> Any:
        sent.append(func)
        return await to_thread(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    prompts = [Prompt.from_dict({"id": i, "tune_id": 7, "text": "sks man",
                                 "images": [host.url(f"n{i}")]}, client) for i in (1, 2)]
    paths = await asyncio.gather(*(p.download(out) for p in prompts))
    assert [p.name for [p] in paths] == ["7-1-0.png", "7-2-0.png"]
    assert [n for n, _ in host.seen] == ["n2"]  # the complete one was skipped
    assert len(sent) == threads


async def test_a_folder_is_the_one_its_path_names_now(client: AstriaClient, host: Host,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder's resolved path is remembered between prompts, but never outlives what the
    # path names: a relative path after a chdir, or a folder replaced by a link elsewhere.
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    prompts = [Prompt.from_dict({"id": i, "tune_id": 7, "text": "sks man",
                                 "images": [host.url(f"n{i}")]}, client) for i in range(1, 5)]
    [saved] = await prompts[0].download("out")
    assert saved == first / "out" / "7-1-0.png"
    monkeypatch.chdir(second)
    [saved] = await prompts[1].download("out")
    assert saved == second / "out" / "7-2-0.png"
    (second / "out").rename(second / "old")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (second / "out").symlink_to(elsewhere)
    [saved] = await prompts[2].download("out")
    assert saved == elsewhere / "7-3-0.png" and _files(second / "old") == ["7-2-0.png"]
    [saved] = await prompts[3].download(second / "out")
    assert saved == elsewhere / "7-4-0.png"


async def test_interrupted_download_leaves_no_partial_file(host: Host, tmp_path: Path) -> None:
    async with AstriaClient(KEY, base_url="http://127.0.0.1:9", download_concurrency=1) as c:
        host.cut["b"] = 1
        prompt = _prompt(c, [host.url("a"), host.url("b"), host.url("c")])
        with pytest.raises(DownloadError) as caught:
            await prompt.download(tmp_path)
        assert caught.value.url == host.url("b")
        # The drop while reading is the transport's typed error, named in the message.
        assert isinstance(caught.value.__cause__, APIConnectionError)
        assert "failed: ClientPayloadError" in str(caught.value)
        # One at a time: "b" broke mid-body; what finished before it is complete, what had
        # not started was cancelled; no partial or temp file anywhere.
        names = _files(tmp_path)
        assert set(names) <= {"777-55-0.png", "777-55-2.png"}
        assert all((tmp_path / n).read_bytes() == PNG for n in names)
        # The re-run completes and fetches only what is missing.
        paths = await prompt.download(tmp_path)
        assert [p.name for p in paths] == ["777-55-0.png", "777-55-1.png", "777-55-2.png"]
        assert all(p.read_bytes() == PNG for p in paths)
        assert [host.requests(n) for n in "abc"] == [1, 2, 1]
        assert _files(tmp_path) == ["777-55-0.png", "777-55-1.png", "777-55-2.png"]


async def test_failure_cancels_siblings_without_leftovers(client: AstriaClient, host: Host,
                                                          tmp_path: Path) -> None:
    host.cut["n3"] = 1
    host.delay = 0.01
    prompt = _prompt(client, [host.url(f"n{i}") for i in range(8)])
    with pytest.raises(DownloadError):
        await prompt.download(tmp_path)
    names = _files(tmp_path)
    assert not [n for n in names if n.startswith(".") or n.endswith(".part")]
    assert "777-55-3.png" not in names
    assert all((tmp_path / n).read_bytes() == PNG for n in names)
    paths = await prompt.download(tmp_path)
    assert len(paths) == 8 and all(p.read_bytes() == PNG for p in paths)
    assert len(_files(tmp_path)) == 8


async def test_rerun_after_a_crash_clears_stale_temp_files(client: AstriaClient, host: Host,
                                                          tmp_path: Path) -> None:
    # What a process killed mid-download leaves: a hidden temp file, no final file.
    stale = tmp_path / ".777-55-0.abc123.part"
    stale.write_bytes(PNG[:100])
    other = tmp_path / ".999-1-0.zzz.part"  # another file's: not ours to touch
    other.write_bytes(b"x")
    paths = await _prompt(client, [host.url("a")]).download(tmp_path)
    assert _files(tmp_path) == [".999-1-0.zzz.part", "777-55-0.png"]
    assert paths[0].read_bytes() == PNG


async def test_cancelled_mid_stream_leaves_no_file(client: AstriaClient, host: Host,
                                                  tmp_path: Path) -> None:
    host.stall.add("a")
    task = asyncio.create_task(_prompt(client, [host.url("a")]).download(tmp_path))
    await asyncio.wait_for(host.stalled.wait(), 5)
    await asyncio.sleep(0.1)  # the client writes the first half into its temp file
    assert [n for n in _files(tmp_path) if n.startswith(".777-55-0.") and n.endswith(".part")]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _files(tmp_path) == []
    assert client._downloader._busy == {}


async def test_the_temp_file_is_created_on_the_loop(client: AstriaClient, host: Host,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # No worker-thread hop per file (it cost ~0.5 ms a file, issue #16), and so no file a
    # cancelled thread could leave behind.
    from astria_async import download

    threads: list[int] = []
    real = download._open_temp

    def spy(folder: str, name: str) -> tuple[int, str]:
        threads.append(threading.get_ident())
        return real(folder, name)

    monkeypatch.setattr(download, "_open_temp", spy)
    await _prompt(client, [host.url("a"), host.url("b")]).download(tmp_path)
    assert threads == [threading.get_ident()] * 2


@pytest.mark.parametrize("durable", [False, True])
async def test_fsync_only_when_durable(host: Host, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, durable: bool) -> None:
    synced: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    async with AstriaClient(KEY, base_url="http://127.0.0.1:9",
                            durable_downloads=durable) as c:
        paths = await _prompt(c, [host.url("a"), host.url("jpeg-b")]).download(tmp_path)
    assert [p.read_bytes() for p in paths] == [PNG, JPEG]
    assert _files(tmp_path) == ["777-55-0.png", "777-55-1.jpg"]
    # Durable: each file, then the directory holding its new name.
    assert len(synced) == (4 if durable else 0)


async def test_same_file_twice_at_once_is_fetched_once(client: AstriaClient, host: Host,
                                                       tmp_path: Path) -> None:
    host.delay = 0.05
    prompt = _prompt(client, [host.url("a"), host.url("b")])
    first, second = await asyncio.gather(prompt.download(tmp_path), prompt.download(tmp_path))
    assert first == second and len(host.seen) == 2
    assert _files(tmp_path) == ["777-55-0.png", "777-55-1.png"]
    assert client._downloader._busy == {}


async def test_a_file_is_fetched_once_at_a_time_after_a_failed_try(
        client: AstriaClient, host: Host, tmp_path: Path) -> None:
    # The first try fails while a second caller waits for it; the second fetches again. A
    # third caller arriving meanwhile waits for the second (and finds the file complete)
    # rather than fetching the same image alongside it.
    host.cut["a"] = 1
    host.delay = 0.1
    prompt = _prompt(client, [host.url("a")])
    first = asyncio.ensure_future(prompt.download(tmp_path))
    second = asyncio.ensure_future(prompt.download(tmp_path))
    await asyncio.wait([first])  # the first try was cut
    await asyncio.sleep(0.05)  # the second is on its way (the host answers after 0.1 s)
    third = await prompt.download(tmp_path)
    assert isinstance(first.exception(), DownloadError)
    assert await second == third == [tmp_path / "777-55-0.png"]
    assert host.requests("a") == 2
    assert client._downloader._busy == {}


@pytest.mark.parametrize(("when", "callers"), [("waiting", 3), ("handed", 3), ("handed", 2)])
async def test_a_caller_cancelled_in_line_for_a_file_passes_its_turn_on(
        client: AstriaClient, host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        when: str, callers: int) -> None:
    # Callers of one file: the first fetches it; the second is cancelled while it waits, or
    # just as the first hands it the turn (cancelled before it runs again); a third, if any,
    # still gets its turn and finds the file complete. Nothing of the file's line is left.
    host.delay = 0.1
    prompt = _prompt(client, [host.url("a")])
    first = asyncio.ensure_future(prompt.download(tmp_path))
    await asyncio.sleep(0.02)  # the first one holds the file's turn
    later = [asyncio.ensure_future(prompt.download(tmp_path)) for _ in range(callers - 1)]
    second = later[0]
    await asyncio.sleep(0.02)  # they wait in line
    if when == "waiting":
        second.cancel()
    else:
        real = os.replace

        def saved(src: str, dst: str) -> None:
            real(src, dst)
            # Runs before the second caller's wake-up, which the turn's hand-over schedules.
            asyncio.get_running_loop().call_soon(second.cancel)

        monkeypatch.setattr(os, "replace", saved)
    results = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 5)
    assert results[0] == [tmp_path / "777-55-0.png"]
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2:] == results[:1] * (callers - 2)
    assert host.requests("a") == 1
    assert client._downloader._busy == {}


@pytest.mark.parametrize("name", ["missing-x", "json-x"])
async def test_bad_answers_raise_and_write_nothing(client: AstriaClient, host: Host,
                                                   tmp_path: Path, name: str) -> None:
    with pytest.raises(DownloadError, match=r"404|not an image"):
        await _prompt(client, [host.url(name)]).download(tmp_path)
    assert _files(tmp_path) == []


async def test_concurrency_is_bounded(client: AstriaClient, host: Host, tmp_path: Path) -> None:
    host.delay = 0.05
    await _prompt(client, [host.url(f"n{i}") for i in range(6)]).download(tmp_path)
    assert host.peak == 2 and len(_files(tmp_path)) == 6


async def test_proxy_is_asked_per_image_host(client: AstriaClient, host: Host, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[URL] = []
    transport = client._transport
    real = transport.proxy_for

    def spy(url: URL) -> str | None:
        asked.append(url)
        return real(url)

    monkeypatch.setattr(transport, "proxy_for", spy)
    await _prompt(client, [host.url("a")]).download(tmp_path)
    assert URL(host.url("a")) in asked


async def test_prompt_without_images(client: AstriaClient, tmp_path: Path) -> None:
    downloader = client._downloader  # (the client first re-fetches such a prompt: see below)
    with pytest.raises(DownloadError, match="no images yet"):
        await downloader.prompt(_prompt(client, []), tmp_path)
    with pytest.raises(DownloadError, match="failed: NSFW"):
        await downloader.prompt(_prompt(client, [], user_error="NSFW"), tmp_path)
    with pytest.raises(Exception, match="not bound"):
        await Prompt.from_dict({"id": 1}).download(tmp_path)


# --- end to end with FakeAstria --------------------------------------------------------------


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.2}


async def test_download_from_the_fake_by_id(astria_fake: FakeAstria, tmp_path: Path) -> None:
    quick = WaitPolicy(interval=0.05, max_interval=0.1, timeout=10)
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                            wait=quick) as c:
        tune = astria_fake.add_tune(branch="flux1", model_type="lora")
        created = await c.prompts.create(1504944, text=f"<lora:{tune['id']}:1> ohwx man",
                                         num_images=3)
        with pytest.raises(DownloadError, match="no images yet"):
            await c.prompts.download(created.id, tmp_path)  # fetched: still rendering
        await created.wait_images()
        paths = await c.prompts.download(created.id, tmp_path)
        assert [p.name for p in paths] == [f"{tune['id']}-{created.id}-{i}.png" for i in range(3)]
        assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
        images = astria_fake.count("GET", "/mp/*")
        assert images == 3
        await c.prompts.download(created.id, tmp_path)  # complete: nothing fetched again
        assert astria_fake.count("GET", "/mp/*") == images
        assert astria_fake.count("GET", f"/tunes/1504944/prompts/{created.id}") == 0


async def test_saved_images_get_the_usual_file_mode(astria_client: AstriaClient,
                                                    astria_fake: FakeAstria,
                                                    tmp_path: Path) -> None:
    # mkstemp's 0600 must not survive the rename: a web server has to be able to serve them.
    tune = astria_fake.add_tune(title="modes", branch="fast")
    prompt = await astria_client.prompts.create(tune["id"], text="ohwx man", num_images=1)
    prompt = await prompt.wait_images(timeout=10)
    (path,) = await prompt.download(tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
