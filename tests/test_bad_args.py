"""Bad arguments are InvalidParamsError naming the field, raised before anything is sent."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from astria_async import AstriaClient, InvalidParamsError
from astria_async.params import PromptParams, TuneParams
from astria_async.testing import FakeAstria

URL = "https://example.com/a.jpg"
FLUX = 1504944


@pytest.fixture
async def client(astria_fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url) as c:
        yield c


async def refused(fake: FakeAstria, field: str, make: Callable[[], Awaitable[Any]]) -> str:
    fake.clear_log()
    with pytest.raises(InvalidParamsError) as info:
        await make()
    assert info.value.field == field, info.value
    assert fake.count("*", "*") == 0  # nothing sent
    return info.value.problem


async def test_wrong_types_name_the_field(astria_fake: FakeAstria, client: AstriaClient) -> None:
    bad: Any = 5
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("extra", lambda: client.prompts.create(FLUX, text="x", extra=cast(Any, [1]))),
        ("image_reference_urls",
         lambda: client.prompts.create(FLUX, text="x", image_reference_urls=bad)),
        ("prompts", lambda: client.tunes.create(title="t", name="man", image_urls=[URL],
                                                prompts=bad)),
        ("extra", lambda: client.tunes.create(title="t", name="man", image_urls=[URL],
                                              extra=bad)),
        ("tune_ids", lambda: client.packs.create_tune(1, title="t", name="man", tune_ids=bad)),
        ("prompt_ids", lambda: client.packs.create_tune(1, title="t", name="man", tune_ids=[1],
                                                        prompt_ids=bad)),
    ]
    for field, make in cases:
        assert "must be" in await refused(astria_fake, field, make)


async def test_text_with_a_lone_surrogate(astria_fake: FakeAstria, client: AstriaClient) -> None:
    problem = await refused(astria_fake, "text",
                            lambda: client.prompts.create(FLUX, text="a\ud800b"))
    assert "lone surrogate" in problem and "index 1" in problem
    await refused(astria_fake, "negative_prompt", lambda: client.prompts.create(
        FLUX, text="x", negative_prompt="\udfff"))


async def test_file_names_with_cr_or_lf(astria_fake: FakeAstria, client: AstriaClient,
                                        tmp_path: Path) -> None:
    forged = tmp_path / "a\r\nX-Evil: 1.jpg"
    forged.write_bytes(b"\xff\xd8\xff\xe0jpeg")
    await refused(astria_fake, "images[0]", lambda: client.tunes.create(
        title="t", name="man", images=[forged]))
    stream = io.BytesIO(b"\xff\xd8\xff\xe0jpeg")
    stream.name = "b\n.jpg"
    problem = await refused(astria_fake, "input_image", lambda: client.prompts.create(
        FLUX, text="x", input_image=stream))
    assert "control characters" in problem


async def test_negative_timeouts(astria_fake: FakeAstria, client: AstriaClient) -> None:
    await refused(astria_fake, "timeout", lambda: client.prompts.wait_images(1, timeout=-1))
    await refused(astria_fake, "timeout", lambda: client.tunes.wait_trained(1, timeout=0))
    await refused(astria_fake, "timeout",
                  lambda: client.wait_all([1], timeout=cast(Any, "soon")))


def test_relative_callback_url() -> None:
    client = AstriaClient("k")
    with pytest.raises(InvalidParamsError) as info:
        client.callback_url("/cb")
    assert info.value.field == "base" and "absolute" in info.value.problem
    with pytest.raises(InvalidParamsError, match="reserved"):
        client.callback_url("https://app.example.com/cb", astria_secret="x")


def test_params_fail_when_built() -> None:
    with pytest.raises(InvalidParamsError, match="cfg_scale"):
        PromptParams(cfg_scale=99)
    with pytest.raises(InvalidParamsError, match="image_urls"):
        TuneParams(title="t", name="man", image_urls=["ftp://x"])
    with pytest.raises(InvalidParamsError, match="prompt_attributes"):
        from astria_async.params import PackTuneParams

        PackTuneParams(title="t", name="man", prompt_attributes=cast(Any, {"text": "x"}))
    assert PromptParams(image_reference_urls=cast(Any, [URL])).image_reference_urls == (URL,)


@pytest.mark.parametrize("slug", ["..", "%2e%2e", "x#y", "a/b", "a?b", ".", " ", "é", ""])
async def test_pack_slugs_that_are_paths(astria_fake: FakeAstria, client: AstriaClient,
                                         slug: str) -> None:
    await refused(astria_fake, "pack_id", lambda: client.packs.create_tune(
        slug, title="t", name="man", image_urls=[URL]))
    await refused(astria_fake, "pack_id", lambda: client.packs.get(slug))


async def test_pack_ids_must_be_positive(astria_fake: FakeAstria, client: AstriaClient) -> None:
    await refused(astria_fake, "pack_id", lambda: client.packs.get(0))
    await refused(astria_fake, "pack_id", lambda: client.packs.get(cast(Any, True)))
    assert (await client.packs.get("corporate-headshots")).slug == "corporate-headshots"


# --- training files are images --------------------------------------------------------------

HEADS = {
    "jpeg": b"\xff\xd8\xff\xdb\x00C",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00",
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "heic": b"\x00\x00\x00\x18ftypheic\x00\x00",
    "avif": b"\x00\x00\x00\x1cftypavif\x00\x00",
}


def test_image_kinds_by_leading_bytes() -> None:
    from astria_async._validators import image_kind

    for kind, head in HEADS.items():
        assert image_kind(head) == kind
    for other in (b"", b"#!/bin/sh\n", b"<svg", b"GIF89a", b"RIFF\x00\x00\x00\x00WAVE",
                  b"\x00\x00\x00\x18ftypmp42"):
        assert image_kind(other) is None


async def test_a_text_file_is_not_a_training_image(astria_fake: FakeAstria,
                                                   client: AstriaClient, tmp_path: Path) -> None:
    good = []
    for kind, head in HEADS.items():
        (path := tmp_path / f"ok.{kind}").write_bytes(head + b"rest")
        good.append(path)
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    problem = await refused(astria_fake, "images[5]", lambda: client.tunes.create(
        title="t", name="man", branch="fast", images=[*good, notes]))
    assert "notes.jpg" in problem and "not a JPEG, PNG, WebP, HEIC or AVIF image" in problem
    await refused(astria_fake, "images[0]", lambda: client.packs.create_tune(
        "corporate-headshots", title="t", name="man", images=[b"hello"]))
    stream = io.BytesIO(b"<html>")
    stream.name = "page.png"
    assert "'page.png'" in await refused(astria_fake, "images[0]", lambda: client.tunes.create(
        title="t", name="man", images=[stream]))
    with good[0].open("rb") as file:
        file.read(2)
        TuneParams(title="t", name="man", images=[io.BytesIO(HEADS["png"]), good[1]])
        with pytest.raises(InvalidParamsError):  # read from where it is: not an image there
            TuneParams(title="t", name="man", images=[file])
        assert file.tell() == 2  # the peek left the file where it was
        file.seek(0)
        tune = await client.tunes.create(title="t", name="man", branch="fast",
                                         images=[*good, file])
    assert len(astria_fake.tune(tune.id)["orig_images"]) == 6


def test_unseekable_streams_are_not_read_ahead() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise AssertionError("read before the upload")

    TuneParams(title="t", name="man", images=[cast(Any, Pipe())])


def test_cli_refuses_a_text_file_before_uploading(tmp_path: Path) -> None:
    from test_cli_support import FakeThread

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with FakeThread() as thread:
        result = thread.invoke("tunes", "create", "--fast", "--name", "man", str(notes))
        assert result.exit_code == 1
        assert "notes.txt" in result.stderr and "image" in result.stderr
        assert thread.count("POST", "*") == 0
