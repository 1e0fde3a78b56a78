"""The CLI's first hour: strict -p, JSON errors, hints in CLI terms, paid confirmations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_cli_support import FakeThread, stdout_json


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def fast_tune(fake: FakeThread) -> int:
    return int(fake.call(lambda f: f.add_tune(branch="fast"))["id"])


# --- -p is checked, --extra passes through --------------------------------------------------


def test_unknown_param_is_refused_and_nothing_is_sent(fake: FakeThread) -> None:
    tid = fast_tune(fake)
    result = fake.invoke("prompts", "create", str(tid), "ohwx man", "-p", "colour=red")
    assert result.exit_code == 2
    assert "'colour' is not a prompt parameter" in result.stderr
    assert "--extra colour=VALUE" in result.stderr
    typo = fake.invoke("gen", str(tid), "ohwx man", "-p", "stlye=Cinematic")
    assert typo.exit_code == 2 and "did you mean -p style" in typo.stderr
    assert fake.count("POST", "*") == 0


def test_extra_is_sent_as_given(fake: FakeThread) -> None:
    tid = fast_tune(fake)
    result = fake.invoke("--json", "prompts", "create", str(tid), "ohwx man", "-p",
                         "style=Cinematic", "--extra", "colour=red", "--extra", "n=[1,2]")
    assert result.exit_code == 0, result.stderr
    assert fake.count("POST", "/tunes/*/prompts") == 1
    bad = fake.invoke("prompts", "create", str(tid), "x", "--extra", "novalue")
    assert bad.exit_code == 2 and "--extra" in bad.stderr


# --- --json means JSON, errors included -----------------------------------------------------


def test_json_errors_are_one_object_on_stdout(fake: FakeThread) -> None:
    missing = fake.invoke("--json", "tunes", "get", "424242")
    assert missing.exit_code == 1
    [error] = stdout_json(missing).values()
    assert error["message"].startswith("HTTP 404 (GET /tunes/424242): ")
    assert error | {"message": ""} == {"type": "NotFoundError", "message": "", "status": 404,
                                       "field": None}
    after = fake.invoke("prompts", "create", "1", "x", "-n", "9", "--json")
    assert after.exit_code == 1
    error = stdout_json(after)["error"]
    assert (error["type"], error["field"], error["status"]) == ("InvalidParamsError",
                                                               "num_images", None)
    usage = fake.invoke("--json", "prompts", "create", "1", "x", "-p", "colour=red")
    assert usage.exit_code == 2
    assert stdout_json(usage)["error"]["field"] == "--param"
    typed = fake.invoke("--json", "tunes", "get", "abc")
    assert typed.exit_code == 2 and stdout_json(typed)["error"]["type"] == "BadParameter"
    assert fake.count("POST", "*") == 0


def test_json_missing_key_and_plain_errors_stay_on_stderr(fake: FakeThread) -> None:
    from test_cli_support import run_cli

    keyless = run_cli("--json", "tunes", "list")
    assert keyless.exit_code == 1
    assert stdout_json(keyless)["error"]["type"] == "ConfigurationError"
    assert "--api-key" in stdout_json(keyless)["error"]["message"]
    plain = fake.invoke("tunes", "get", "424242")
    assert plain.stdout == "" and "NotFoundError" in plain.stderr


def test_one_prompt_is_one_object(fake: FakeThread) -> None:
    tid = fast_tune(fake)
    created = fake.invoke("--json", "prompts", "create", str(tid), "ohwx man")
    assert isinstance(stdout_json(created), dict) and stdout_json(created)["id"]


# --- hints in CLI terms, per-id waits, positive ids -------------------------------------------


def test_prompts_wait_reports_each_id(fake: FakeThread) -> None:
    tid = fast_tune(fake)
    good = int(fake.call(lambda f: f.add_prompt(tid, "ohwx man"))["id"])
    result = fake.invoke("--json", "prompts", "wait", str(good), "424242", "--timeout", "20")
    assert result.exit_code == 1
    done, missing = stdout_json(result)
    assert done["id"] == good and done["images"]
    assert missing["id"] == 424242 and missing["error"]["type"] == "NotFoundError"
    assert missing["error"]["status"] == 404
    table = fake.invoke("prompts", "wait", str(good), "424242")
    assert table.exit_code == 1 and "not found" in table.stdout
    assert "NotFoundError" in table.stderr and "/mock" in table.stdout


def test_a_timeout_hint_is_a_command(fake: FakeThread) -> None:
    tid = int(fake.call(lambda f: f.add_tune(branch="flux1"))["id"])
    pending = int(fake.call(lambda f: f.add_prompt(tid, "ohwx man"))["id"])
    fake.call(lambda f: f.fail(f"/prompts/{pending}", 503, count=None))
    result = fake.invoke("prompts", "wait", str(pending), "--timeout", "0.3")
    assert result.exit_code == 1
    assert f"astria prompts wait {pending}" in result.stderr
    assert "client." not in result.stderr and "wait_images" not in result.stderr
    fake.call(lambda f: f.fail("/prompts", 503, count=None, method="GET"))
    gen = fake.invoke("--poll-interval", "0.05", "gen", str(tid), "x", "--timeout", "0.2")
    assert gen.exit_code == 1 and "resume with astria prompts wait " in gen.stderr


@pytest.mark.parametrize("args", [("prompts", "get", "-5"), ("tunes", "get", "0"),
                                  ("prompts", "wait", "1", "-2"), ("gen", "-1", "x"),
                                  ("download", "0")])
def test_ids_must_be_positive(args: tuple[str, ...]) -> None:
    from test_cli_support import run_cli

    result = run_cli("--api-key", "k", *args)
    assert result.exit_code == 2
    assert "an id must be positive" in result.stderr


# --- paid actions are visible ---------------------------------------------------------------


def test_a_paid_tune_asks_on_a_terminal(fake: FakeThread,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async.testing import sample_images

    photo = str(sample_images()[0])
    monkeypatch.setattr("astria_async.cli._root.stdin_is_terminal", lambda: True)
    declined = fake.invoke("tunes", "create", "--name", "man", photo, input="n\n")
    assert declined.exit_code == 1 and "about $2.00" in declined.stderr
    assert "Create it?" in declined.stderr and fake.count("POST", "*") == 0
    accepted = fake.invoke("--json", "tunes", "create", "--name", "man", photo, input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert fake.count("POST", "/tunes") == 1
    skipped = fake.invoke("--json", "tunes", "create", "--name", "man", "-y", photo)
    assert skipped.exit_code == 0 and "Create it?" not in skipped.stderr
    free = fake.invoke("--json", "tunes", "create", "--fast", "--name", "man", photo)
    assert free.exit_code == 0 and "$" not in free.stderr


def test_a_paid_tune_is_not_asked_about_in_scripts(fake: FakeThread) -> None:
    from astria_async.testing import sample_images

    result = fake.invoke("--json", "tunes", "create", "--name", "man", str(sample_images()[0]))
    assert result.exit_code == 0, result.stderr
    assert "creating a paid tune: about $2.00" in result.stderr
    assert "Create it?" not in result.stderr


def test_title_help_is_honest_about_idempotency() -> None:
    from test_cli_support import run_cli

    text = " ".join(run_cli("tunes", "create", "--help").stdout.split())
    assert "Only when idempotency is on in your Astria API settings" in text
    assert "it is the idempotency key [" not in text


def test_a_pack_run_shows_the_pack_price(fake: FakeThread,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from astria_async.testing import sample_images

    photo = str(sample_images()[0])
    slug = "corporate-headshots"
    cost = stdout_json(fake.invoke("--json", "packs", "get", slug))["cost_mc_hash"]["man"]
    monkeypatch.setattr("astria_async.cli._root.stdin_is_terminal", lambda: True)
    declined = fake.invoke("packs", "run", slug, "--name", "man", photo, input="n\n")
    assert declined.exit_code == 1
    assert f"${cost / 100_000:.2f} (the pack's price)" in declined.stderr
    assert fake.count("POST", "*") == 0
    yes = fake.invoke("--json", "packs", "run", slug, "--name", "man", "-y", photo)
    assert yes.exit_code == 0, yes.stderr
    assert "creating a paid run of pack corporate-headshots" in yes.stderr
