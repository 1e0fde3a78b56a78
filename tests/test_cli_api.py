"""The CLI commands of the whole API (whoami, models, workspaces, landing, video, references,
packs create, prompts update, list filters, wait from a file) against FakeAstria."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli import add_prompt, make_tune, quick
from test_cli_support import FakeThread, run_cli, stdout_json

from astria_async.testing import sample_images


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def test_help_lists_the_new_commands() -> None:
    out = run_cli("--help").stdout
    for command in ("whoami", "models", "workspaces", "landing", "video"):
        assert command in out


def test_whoami(fake: FakeThread) -> None:
    result = fake.invoke("--json", "whoami")
    assert result.exit_code == 0, result.stderr
    user = stdout_json(result)
    assert user["id"] == 1001 and user["email"] == "fake@example.com"
    assert user["balance_usd"] == round(user["usd_balance_mc"] / 100_000, 2)
    table = fake.invoke("whoami")
    assert "fake@example.com" in table.stdout


def test_models(fake: FakeThread) -> None:
    result = fake.invoke("--json", "models")
    assert result.exit_code == 0, result.stderr
    data = stdout_json(result)
    assert data["models"]["gemini"]["tune_id"] == 3618064 and data["default"] == "gemini"
    table = fake.invoke("models", "--refresh")
    assert "seedream" in table.stdout and "3691308" in table.stdout
    fake.call(lambda f: f.fail("/cli/models", 404, count=None))
    offline = fake.invoke("--json", "models")
    assert offline.exit_code == 0 and "built-in" in offline.stderr
    assert stdout_json(offline)["source"] == "builtin"


def test_workspaces_and_landing(fake: FakeThread, tmp_path: Path) -> None:
    made = fake.invoke("--json", "workspaces", "create", "--title", "Client A")
    assert made.exit_code == 0, made.stderr
    ws = str(stdout_json(made)["id"])
    listed = stdout_json(fake.invoke("--json", "workspaces", "list"))
    assert ws in [str(w["id"]) for w in listed]
    assert "Client A" in fake.invoke("workspaces", "list").stdout
    page = tmp_path / "landing.html"
    page.write_text("<h1>Welcome</h1>", encoding="utf-8")
    done = fake.invoke("-w", ws, "landing", "set", "--html-file", str(page), "--brief", "airy")
    assert done.exit_code == 0, done.stderr
    assert fake.invoke("-w", ws, "landing", "get", "--html").stdout.strip() == "<h1>Welcome</h1>"
    shown = stdout_json(fake.invoke("-w", ws, "--json", "landing", "get"))
    assert shown["brief"] == "airy"
    assert "airy" in fake.invoke("-w", ws, "landing", "get").stdout
    assert fake.invoke("landing", "get").exit_code == 2  # needs -w
    assert fake.invoke("-w", ws, "landing", "set").exit_code == 2


def test_gen_with_a_model_name_and_mask(fake: FakeThread) -> None:
    image, mask = map(str, sample_images()[:2])
    result = fake.invoke("--json", "gen", "gemini", "a red fox", "--no-wait", "-n", "1",
                         "--input-image", image, "--mask-image", mask)
    assert result.exit_code == 0, result.stderr
    prompt = stdout_json(result)
    assert prompt["tune_id"] == 3618064 and prompt["input_image"].startswith(fake.url)
    assert prompt["mask_image"]
    url = fake.invoke("--json", "gen", "seedream", "x", "--no-wait", "-n", "1",
                      "--input-image", "https://example.com/a.jpg")
    assert stdout_json(url)["input_image"] == "https://example.com/a.jpg"
    assert fake.invoke("gen", "two words", "x").exit_code == 2


def test_gen_with_references(fake: FakeThread) -> None:
    face = str(sample_images()[0])
    result = fake.invoke("--json", "gen", "gemini", "a portrait in a garden", "--no-wait",
                         "-n", "1", "--reference", f"woman={face}",
                         "--reference", "dress=https://example.com/dress.jpg")
    assert result.exit_code == 0, result.stderr
    text = stdout_json(result)["text"]
    refs = [t for t in fake.call(lambda f: f.tunes).values() if t.get("model_type") == "faceid"]
    assert {r["name"] for r in refs} == {"woman", "dress"}
    assert all(r["base_tune_id"] == 3618064 for r in refs)
    for r in refs:
        assert f"<faceid:{r['id']}:1> {r['name']}" in text
    assert text.endswith("a portrait in a garden")
    assert fake.invoke("gen", "gemini", "x", "--reference", "woman").exit_code == 2
    assert fake.invoke("gen", "gemini", "x", "--reference", "w=/no/such.jpg").exit_code == 2


def test_video_with_frames_and_references(fake: FakeThread, tmp_path: Path) -> None:
    frame = str(sample_images()[0])
    result = quick(fake, "--json", "video", "--video-model", "kling25_turbo_pro", "--video-prompt",
                   "she waves", "--first-frame", frame, "--duration", "5",
                   "--generate-audio", "-o", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    prompt = stdout_json(result)
    assert prompt["video_model"] == "kling25_turbo_pro" and prompt["video_duration"] == 5
    assert prompt["images"] and list(tmp_path.iterdir())
    refs = fake.invoke("--json", "video", "--video-model", "seedance2_pro_1080p", "--text", "a fox",
                       "--image-reference", "https://example.com/1.jpg",
                       "--image-reference", "https://example.com/2.jpg")
    assert refs.exit_code == 0, refs.stderr
    mixed = fake.invoke("video", "--video-model", "kling25_turbo_pro", "--text", "x",
                        "--image-reference", frame, "--image-reference", "https://e.com/2.jpg")
    assert mixed.exit_code == 2 and "--image-reference" in mixed.stderr
    clash = fake.invoke("video", "--video-model", "seedance2_pro_1080p", "--first-frame", frame,
                        "--image-reference", frame)
    assert clash.exit_code == 1 and "image_references" in clash.stderr


def test_packs_create_and_prompts_update(fake: FakeThread) -> None:
    made = fake.invoke("--json", "packs", "create", "--title", "My looks", "--subtitle", "x")
    assert made.exit_code == 0, made.stderr
    pack = stdout_json(made)
    assert pack["base_tune_id"] == 3618064
    tune_id = make_tune(fake)
    prompt_id = add_prompt(fake, tune_id, "ohwx man")
    updated = fake.invoke("--json", "prompts", "update", str(prompt_id), "--base-pack-id",
                          str(pack["id"]))
    assert updated.exit_code == 0, updated.stderr
    assert stdout_json(updated)["base_pack_id"] == pack["id"]
    assert "base_pack_id" in fake.invoke("prompts", "update", str(prompt_id),
                                         "--base-pack-id", str(pack["id"])).stdout
    assert fake.invoke("prompts", "update", str(prompt_id)).exit_code == 1


def test_prompts_list_filters(fake: FakeThread) -> None:
    tune_id = make_tune(fake)
    first = add_prompt(fake, tune_id, "ohwx one")
    second = add_prompt(fake, tune_id, "ohwx two")
    quick(fake, "prompts", "wait", str(first), str(second))
    assert fake.invoke("api", "POST", f"/prompts/{second}/like").exit_code == 0
    liked = stdout_json(fake.invoke("--json", "prompts", "list", "--liked"))
    assert [p["id"] for p in liked] == [second]
    every = stdout_json(fake.invoke("--json", "prompts", "list", "--offset", "1"))
    assert [p["id"] for p in every] == [first]
    expanded = stdout_json(fake.invoke("--json", "prompts", "list", "--tune-id", str(tune_id),
                                       "--expand", "debug_images", "--limit", "1"))
    assert expanded[0]["debug_images"]
    assert stdout_json(fake.invoke("--json", "prompts", "list", "--is-video")) == []


def test_tunes_list_by_name_and_offset(fake: FakeThread) -> None:
    man = make_tune(fake, name="man")
    woman = make_tune(fake, name="woman")
    found = stdout_json(fake.invoke("--json", "tunes", "list", "--name", "woman"))
    assert [t["id"] for t in found] == [woman]
    skipped = stdout_json(fake.invoke("--json", "tunes", "list", "--offset", "1"))
    assert [t["id"] for t in skipped] == [man]
    gallery = stdout_json(fake.invoke("--json", "tunes", "list", "--gallery", "--limit", "150"))
    assert 1504944 in [t["id"] for t in gallery]


def test_prompts_wait_reads_ids_from_a_file_and_stdin(fake: FakeThread, tmp_path: Path) -> None:
    tune_id = make_tune(fake)
    ids = [add_prompt(fake, tune_id, f"ohwx {i}") for i in range(3)]
    listing = tmp_path / "ids.txt"
    listing.write_text(f"{ids[0]}\n{ids[1]}, {ids[0]}\n", encoding="utf-8")
    result = quick(fake, "--json", "prompts", "wait", "--prompts-file", str(listing))
    assert result.exit_code == 0, result.stderr
    assert [p["id"] for p in stdout_json(result)] == ids[:2]
    piped = fake.invoke("--poll-interval", "0.05", "--json", "prompts", "wait",
                        input=json.dumps([{"id": ids[2]}, {"id": ids[1]}]))
    assert [p["id"] for p in stdout_json(piped)] == [ids[2], ids[1]]
    listing.write_text("12 nope", encoding="utf-8")
    assert quick(fake, "prompts", "wait", "--prompts-file", str(listing)).exit_code == 2
    assert fake.invoke("prompts", "wait", input="").exit_code == 2


def test_download_reads_ids_from_a_file_and_prompts_get_expands(fake: FakeThread,
                                                                 tmp_path: Path) -> None:
    tune_id = make_tune(fake)
    done = add_prompt(fake, tune_id, "ohwx", num_images=2)
    quick(fake, "prompts", "wait", str(done))
    listing = tmp_path / "ids.txt"
    listing.write_text(str(done), encoding="utf-8")
    result = fake.invoke("--json", "download", "--prompts-file", str(listing), "-o",
                         str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert len(stdout_json(result)["files"]) == 2
    got = fake.invoke("--json", "prompts", "get", str(done), "--tune", str(tune_id),
                      "--expand", "debug_images")
    assert got.exit_code == 0, got.stderr
    assert stdout_json(got)["debug_images"]


def test_tunes_create_a_reference_on_a_named_model(fake: FakeThread) -> None:
    result = fake.invoke("--json", "tunes", "create", "--name", "woman", "--model", "gemini",
                         "--model-type", "faceid", "--description", "red hair",
                         "https://example.com/me.jpg")
    assert result.exit_code == 0, result.stderr
    tune = stdout_json(result)
    assert tune["base_tune_id"] == 3618064
    assert tune["characteristics"] == {"short_description": "red hair"}
