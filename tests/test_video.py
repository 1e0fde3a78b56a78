"""Video prompts: typed file inputs, the text rule, the generate_audio alias, the answer."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_resources_wire import JPEG, PNG, Recorder, client, server

from astria_async import AstriaClient, InvalidParamsError, PromptParams
from astria_async.testing import FakeAstria

__all__ = ["client", "server"]  # fixtures used below
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 32
URL = "https://example.com/"


async def test_video_files_go_as_rails_multipart(server: Recorder, client: AstriaClient,
                                                 tmp_path: Path) -> None:
    frame = tmp_path / "first.png"
    frame.write_bytes(PNG)
    await client.prompts.create(
        3618064, video_model="kling_v3_motion", video_prompt="she turns",
        video_first_frame=frame,
        video_last_frame=JPEG, input_video=io.BytesIO(MP4), audio_reference=b"ID3audio",
        generate_audio=True, video_duration=5)
    form = server.seen[0].form
    assert server.seen[0].path == "/tunes/3618064/prompts"
    assert "prompt[text]" not in form
    assert form["prompt[video_first_frame]"][0][:2] == ("first.png", "image/png")
    assert form["prompt[video_last_frame]"][0][1] == "image/jpeg"
    assert form["prompt[input_video]"][0][2] == MP4
    assert form["prompt[audio_reference]"][0][2] == b"ID3audio"
    assert form["prompt[video_audio]"] == ["true"]
    assert "prompt[generate_audio]" not in form
    assert form["prompt[video_duration]"] == ["5"]


async def test_image_references_keep_their_order(server: Recorder, client: AstriaClient) -> None:
    await client.prompts.create(1, text="x", image_references=[PNG, JPEG, PNG])
    files = server.seen[0].form["prompt[image_references][]"]
    assert [f[1] for f in files] == ["image/png", "image/jpeg", "image/png"]
    await client.prompts.create(1, text="x", image_reference_urls=[URL + "b", URL + "a"])
    assert server.seen[1].json["prompt"]["image_reference_urls"] == [URL + "b", URL + "a"]


async def test_source_image_url_needs_no_text(server: Recorder, client: AstriaClient) -> None:
    await client.prompts.create(1, source_image_url=URL + "s.png", video_model="kling25_turbo_pro")
    assert server.seen[0].json == {"prompt": {"source_image_url": URL + "s.png",
                                              "video_model": "kling25_turbo_pro"}}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"video_model": "kling25_turbo_pro"}, "text"),
    ({"text": "x", "image_references": [PNG], "image_reference_urls": [URL]},
     "image_reference_urls"),
    ({"text": "x", "video_first_frame": PNG, "video_first_frame_url": URL},
     "video_first_frame_url"),
    ({"text": "x", "input_video": MP4, "input_video_url": URL}, "input_video_url"),
    ({"text": "x", "audio_reference": MP4, "audio_reference_url": URL}, "audio_reference_url"),
    ({"text": "x", "video_last_frame": PNG, "video_last_frame_url": URL},
     "video_last_frame_url"),
    ({"text": "x", "video_audio": True, "generate_audio": False}, "generate_audio"),
    ({"text": "x", "generate_audio": "yes"}, "generate_audio"),
    ({"text": "x", "image_references": "a.png"}, "image_references"),
    ({"text": "x", "image_references": [URL]}, "image_references[0]"),
    ({"text": "x", "input_video": "/no/such/file.mp4"}, "input_video"),
])
async def test_bad_video_input_is_refused_before_sending(
        server: Recorder, client: AstriaClient, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.create(1, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert server.seen == []


def test_params_carry_the_video_files() -> None:
    params = PromptParams(video_first_frame=PNG, generate_audio=False)
    assert params.to_payload() == {"video_first_frame": PNG, "video_audio": False}


@pytest.fixture
async def fake_client(fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(fake.api_key, base_url=fake.url) as c:
        yield c


async def test_video_prompt_end_to_end(fake: FakeAstria, fake_client: AstriaClient,
                                       tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(PNG)
    prompt = await fake_client.prompts.create(
        3618064, video_model="seedance2_pro_1080p", video_prompt="she waves",
        video_first_frame=frame, video_duration=5, video_audio=True)
    assert prompt.video_model == "seedance2_pro_1080p"
    assert prompt.video_prompt == "she waves"
    assert prompt.video_duration == 5
    again = await fake_client.prompts.get(prompt.id)
    assert again.id == prompt.id and again.text in (None, "")


def test_prompt_model_types_the_video_fields() -> None:
    from astria_async import Prompt

    prompt = Prompt.from_dict({
        "id": 7, "input_video": URL + "in.mp4", "video_duration": "5",
        "image_references": [URL + "1", {"url": URL + "2"}], "liked": True,
        "debug_images": [URL + "d"]})
    assert prompt.input_video == URL + "in.mp4"
    assert prompt.image_references == (URL + "1", URL + "2")
    assert prompt.video_duration == 5 and prompt.liked is True
    assert prompt.debug_images == (URL + "d",)


async def test_video_output_is_saved_with_the_video_extension(
        fake: FakeAstria, fake_client: AstriaClient, tmp_path: Path) -> None:
    prompt = await fake_client.prompts.create(
        3618064, text="a fox", video_model="kling25_turbo_pro", video_prompt="it runs")
    await fake.advance(3600)
    paths = await fake_client.prompts.download(prompt.id, tmp_path)
    assert paths and all(p.suffix == ".mp4" for p in paths)
    assert paths[0].read_bytes()[4:8] == b"ftyp"
