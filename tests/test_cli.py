"""The `astria` CLI against FakeAstria, through the real click entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fresh import loaded
from test_cli_support import FakeThread, run_cli, stdout_json

from astria_async.testing import SAMPLES_DIR, sample_images


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def make_tune(fake: FakeThread, **kw: Any) -> int:
    kw.setdefault("branch", "fast")
    return int(fake.call(lambda f: f.add_tune(**kw))["id"])


def add_prompt(fake: FakeThread, tune_id: int, text: str, **kw: Any) -> int:
    return int(fake.call(lambda f: f.add_prompt(tune_id, text, **kw))["id"])


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in ("tunes", "prompts", "gen", "download", "download-all", "packs", "api",
                    "batch", "demo", "fake-server"):
        assert command in result.stdout


def test_help_does_not_import_rich_or_the_client() -> None:
    code = ("from astria_async.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded(code, ("rich", "astria_async.batch", "astria_async.demo")) == []


def test_missing_key_says_how_to_set_it() -> None:
    result = run_cli("tunes", "list")
    assert result.exit_code == 1
    assert "ASTRIA_API_KEY" in result.stderr and "--api-key" in result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2() -> None:
    assert run_cli("tunes", "get", "not-a-number").exit_code == 2
    assert run_cli("nope").exit_code == 2


def test_api_errors_are_one_line_exit_1(fake: FakeThread) -> None:
    result = fake.invoke("tunes", "get", "424242")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "NotFoundError" in result.stderr and "404" in result.stderr
    bad = fake.invoke("prompts", "create", "1", "x", "-n", "9")
    assert bad.exit_code == 1 and "num_images" in bad.stderr
    assert fake.count("POST", "*") == 0  # refused locally


def test_env_variables_configure_the_client(fake: FakeThread) -> None:
    env = {"ASTRIA_BASE_URL": fake.url, "ASTRIA_AUTH_TOKEN": fake.api_key}
    result = run_cli("--json", "tunes", "list", env=env)
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result) == []


def test_tunes_lifecycle(fake: FakeThread, tmp_path: Path) -> None:
    created = fake.invoke("--json", "tunes", "create", "--fast", "--name", "man", "--title",
                          "t-1", str(SAMPLES_DIR), "--characteristic", "eyes=blue")
    assert created.exit_code == 0, created.stderr
    tune = stdout_json(created)
    assert tune["branch"] == "fast" and tune["title"] == "t-1"
    assert len(tune["orig_images"]) == len(sample_images())
    assert "upload" in created.stderr  # plain progress lines when stderr is no terminal
    listed = fake.invoke("tunes", "list", "--json")
    assert [t["id"] for t in stdout_json(listed)] == [tune["id"]]
    table = fake.invoke("tunes", "list")
    assert str(tune["id"]) in table.stdout and "fast" in table.stdout
    got = stdout_json(fake.invoke("--json", "tunes", "get", str(tune["id"])))
    assert got["characteristics"] == {"eyes": "blue"}
    updated = stdout_json(fake.invoke("--json", "tunes", "update", str(tune["id"]),
                                      "--title", "renamed"))
    assert updated["title"] == "renamed"
    refused = fake.invoke("tunes", "delete", str(tune["id"]), input="n\n")
    assert refused.exit_code == 1 and tune["id"] in fake.call(lambda f: f.tunes)
    deleted = fake.invoke("--json", "tunes", "delete", "-y", str(tune["id"]))
    assert stdout_json(deleted) == {"deleted": [tune["id"]]}
    assert fake.call(lambda f: f.tunes) == {}


def test_tune_from_urls(fake: FakeThread) -> None:
    url = fake.call(lambda f: f.add_tune(branch="fast"))["orig_images"][0]
    result = fake.invoke("--json", "tunes", "create", "--fast", "--name", "dog", url)
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result)["name"] == "dog"


def test_prompts_create_get_list_delete(fake: FakeThread) -> None:
    tune_id = make_tune(fake)
    created = fake.invoke("--json", "prompts", "create", str(tune_id), "ohwx man", "-n", "2",
                          "--seed", "7", "-p", "style=Cinematic", "-p", "film_grain=true")
    assert created.exit_code == 0, created.stderr
    prompt = stdout_json(created)
    assert (prompt["num_images"], prompt["seed"], prompt["style"]) == (2, 7, "Cinematic")
    assert prompt["film_grain"] is True
    got = stdout_json(fake.invoke("--json", "prompts", "get", str(prompt["id"])))
    assert got["id"] == prompt["id"]
    listed = stdout_json(fake.invoke("--json", "prompts", "list", "--tune", str(tune_id)))
    assert [p["id"] for p in listed] == [prompt["id"]]
    assert stdout_json(fake.invoke("--json", "prompts", "list", "--text", "nothing")) == []
    fake.invoke("prompts", "delete", "--yes", str(prompt["id"]))
    assert fake.prompts() == {}


def test_api_escape_hatch(fake: FakeThread) -> None:
    tune_id = make_tune(fake)
    user = fake.invoke("api", "GET", "/users")
    assert stdout_json(user)["email"] and "HTTP 200" in user.stderr
    form = fake.invoke("api", "POST", f"/tunes/{tune_id}/prompts", "-f", "prompt[text]=hi",
                       "-f", "prompt[num_images]=2")
    assert stdout_json(form)["num_images"] == 2
    body = fake.invoke("api", "post", f"/tunes/{tune_id}/prompts", "--json-body",
                       '{"prompt": {"text": "json", "seed": 3}}')
    assert stdout_json(body)["seed"] == 3
    image = str(sample_images()[0])
    upload = fake.invoke("api", "POST", "/tunes", "--root", "tune", "-f", "title=up",
                         "-f", "name=man", "-f", "branch=fast", "-f", f"images[]=@{image}",
                         "-f", f"images[]=@{image}")
    assert len(stdout_json(upload)["orig_images"]) == 2
    listed = fake.invoke("api", "GET", "/tunes", "-q", "limit=1")
    assert len(stdout_json(listed)) == 1
    assert fake.invoke("api", "GET", "/tunes", "--json-body", "[1]").exit_code == 2
    assert fake.invoke("api", "GET", "/nowhere").exit_code == 1


def test_packs(fake: FakeThread) -> None:
    listed = stdout_json(fake.invoke("--json", "packs", "list", "--gallery"))
    slugs = {p["slug"] for p in listed}
    assert "corporate-headshots" in slugs
    pack = stdout_json(fake.invoke("--json", "packs", "get", "corporate-headshots"))
    assert pack["slug"] == "corporate-headshots"
    images = [str(p) for p in sample_images()]
    run = fake.invoke("--json", "packs", "run", "corporate-headshots", *images, "--name",
                      "man", "-n", "1")
    assert run.exit_code == 0, run.stderr
    assert stdout_json(run)["kind"] == "tune"
    assert fake.invoke("packs", "run", "corporate-headshots", "--name", "man").exit_code == 2


def test_json_mode_keeps_stdout_pure(fake: FakeThread) -> None:
    tune_id = make_tune(fake)
    for args in (("tunes", "list"), ("prompts", "create", str(tune_id), "x"),
                 ("prompts", "list"), ("packs", "list"), ("api", "GET", "/users")):
        result = fake.invoke("--json", *args)
        assert result.exit_code == 0, result.stderr
        stdout_json(result)  # parses as exactly one JSON document


def quick(fake: FakeThread, *args: str) -> Any:
    """Invoke with brisk polling (the fake finishes in a fraction of a second)."""
    return fake.invoke("--poll-interval", "0.05", *args)


def test_tune_create_wait(fake: FakeThread) -> None:
    result = quick(fake, "--json", "tunes", "create", "--fast", "--name", "man",
                   *map(str, sample_images()), "--wait")
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result)["trained_at"] and "trained 1/1" in result.stderr


def test_gen_waits_and_downloads(fake: FakeThread, tmp_path: Path) -> None:
    tune_id = make_tune(fake)
    result = quick(fake, "gen", str(tune_id), "ohwx man on a beach", "-n", "3", "-o",
                   str(tmp_path))
    assert result.exit_code == 0, result.stderr
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 3 and all(f.read_bytes().startswith(b"\x89PNG") for f in files)
    assert "/mock" in result.stdout  # the image URLs are printed under the table
    assert "download 3/3" in result.stderr
    failed = quick(fake, "--json", "gen", str(tune_id), "FAIL this")
    assert failed.exit_code == 1 and stdout_json(failed)["user_error"]
    only = quick(fake, "--json", "gen", str(tune_id), "later", "--no-wait")
    assert stdout_json(only)["images"] == []
    assert quick(fake, "gen", str(tune_id), "x", "--no-wait", "-o", "d").exit_code == 2


def test_prompts_wait_many_and_download(fake: FakeThread, tmp_path: Path) -> None:
    tune_id = make_tune(fake)
    ids = [str(add_prompt(fake, tune_id, f"ohwx {i}", num_images=2)) for i in range(4)]
    result = quick(fake, "--json", "prompts", "wait", *ids, "--download", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert [str(p["id"]) for p in stdout_json(result)] == ids
    assert len(list(tmp_path.glob("*.png"))) == 8
    bad = add_prompt(fake, tune_id, "FAIL")
    assert quick(fake, "prompts", "wait", ids[0], str(bad)).exit_code == 1


def test_download_skips_complete_files(fake: FakeThread, tmp_path: Path) -> None:
    tune_id = make_tune(fake)
    done = add_prompt(fake, tune_id, "a", num_images=2)
    quick(fake, "prompts", "wait", str(done))
    first = quick(fake, "--json", "download", str(done), "-o", str(tmp_path))
    assert first.exit_code == 0, first.stderr
    files = [Path(f) for f in stdout_json(first)["files"]]
    stamps = [f.stat().st_mtime_ns for f in files]
    image_gets = fake.count("GET", "/mp/*")
    again = quick(fake, "--json", "download", str(done), "-o", str(tmp_path))
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert fake.count("GET", "/mp/*") == image_gets  # nothing fetched twice
    assert stdout_json(again)["files"] == [str(f) for f in files]
    pending = add_prompt(fake, tune_id, "b")
    not_yet = fake.invoke("download", str(pending), "-o", str(tmp_path))
    assert not_yet.exit_code == 1 and "--wait" in not_yet.stderr
    waited = quick(fake, "download", str(pending), "--wait", "-o", str(tmp_path))
    assert waited.exit_code == 0 and len(list(tmp_path.glob("*.png"))) == 3


def test_download_all_is_resumable(fake: FakeThread, tmp_path: Path) -> None:
    one, two = make_tune(fake), make_tune(fake)
    for tune_id in (one, one, two):
        add_prompt(fake, tune_id, "ohwx", num_images=2)
    add_prompt(fake, one, "FAIL")
    ids = [str(i) for i in fake.prompts()]
    quick(fake, "prompts", "wait", *ids)
    result = fake.invoke("--json", "download-all", "--tune", str(one), "-o", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result) == {"prompts": 3, "pending": 0, "failed": 1, "files": 4,
                                   "out": str(tmp_path)}
    assert len(list((tmp_path / str(one)).glob("*.png"))) == 4
    (tmp_path / str(one) / sorted(p.name for p in (tmp_path / str(one)).iterdir())[0]).unlink()
    gets = fake.count("GET", "/mp/*")
    everything = stdout_json(fake.invoke("--json", "download-all", "-o", str(tmp_path)))
    assert everything["files"] == 6 and fake.count("GET", "/mp/*") == gets + 1 + 2
    limited = stdout_json(fake.invoke("--json", "download-all", "--limit", "1", "-o",
                                      str(tmp_path / "lim")))
    assert limited["prompts"] == 1


def test_workspace_and_verbose(fake: FakeThread) -> None:
    fake.call(lambda f: f.add_workspace("Clients", workspace_id=77))
    created = fake.invoke("--json", "-w", "77", "tunes", "create", "--fast", "--name", "man",
                          str(sample_images()[0]))
    tune_id = stdout_json(created)["id"]
    assert stdout_json(fake.invoke("--json", "tunes", "list")) == []  # personal scope
    scoped = fake.invoke("--json", "--workspace", "77", "-v", "tunes", "list")
    assert [t["id"] for t in stdout_json(scoped)] == [tune_id]
    assert "GET /tunes -> 200" in scoped.stderr
    env = {"WORKSPACE_ID": "77"}
    assert len(stdout_json(fake.invoke("--json", "tunes", "list", env=env))) == 1


def test_prompt_with_an_input_image_file(fake: FakeThread) -> None:
    tune_id = make_tune(fake)
    result = fake.invoke("--json", "prompts", "create", str(tune_id), "ohwx man, restyled",
                         "--input-image", str(sample_images()[1]), "-p",
                         "denoising_strength=0.6")
    assert result.exit_code == 0, result.stderr
    prompt = stdout_json(result)
    assert prompt["input_image"].startswith(fake.url) and prompt["denoising_strength"] == 0.6


def test_pack_run_on_existing_tunes_waits_for_its_prompts(fake: FakeThread) -> None:
    refs = [make_tune(fake, name=name, model_type="faceid", base_tune_id=3159068,
                      branch="gemini-2")
            for name in ("man", "woman")]
    result = quick(fake, "--json", "packs", "run", "couple-portraits", "--name", "man",
                   *(a for r in refs for a in ("--tune-id", str(r))), "--wait")
    assert result.exit_code == 0, result.stderr
    data = stdout_json(result)
    assert data["kind"] == "order" and all(p["images"] for p in data["waited"])
