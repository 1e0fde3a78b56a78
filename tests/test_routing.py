"""Prompts for LoRA and FaceID tunes are posted to the base model with a reference token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from test_cli_support import FakeThread, stdout_json

from astria_async import AstriaClient, Tune, ValidationError, WaitPolicy
from astria_async._routing import Route, TuneRoutes, route
from astria_async.params import PromptParams
from astria_async.testing import FakeAstria

FLUX = 1504944
QUICK = WaitPolicy(interval=0.05, multiplier=1.5, max_interval=0.2, jitter=0.1, timeout=20)


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 0.2, "fast_train_seconds": 0.1, "prompt_seconds": 0.1}


@pytest.fixture
async def client(astria_fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                            wait=QUICK) as c:
        yield c


def _lora(fake: FakeAstria, model_type: str = "lora") -> int:
    return int(fake.add_tune(model_type=model_type, base_tune_id=FLUX)["id"])


# --- the rule -------------------------------------------------------------------------------


def test_route_rule() -> None:
    lora = Tune(id=7, model_type="lora", base_tune_id=FLUX)
    assert route(lora, "ohwx man") == Route(FLUX, "<lora:7:1> ohwx man", lora, "<lora:7:1>")
    face = Tune(id=8, model_type="faceid", base_tune_id=FLUX)
    assert route(face, None).text == "<faceid:8:1>"
    kept = route(lora, "a <lora:7:0.8> man")  # already referenced: text unchanged
    assert (kept.tune_id, kept.text, kept.token, kept.routed) == (FLUX, "a <lora:7:0.8> man",
                                                                   None, True)
    assert "runs on its base model 1504944" in kept.describe()
    sdxl = route(Tune(id=6, model_type="lora", branch="sdxl1"), "x")  # no base_tune_id
    assert (sdxl.tune_id, sdxl.text) == (666678, "<lora:6:1> x")
    for plain in (Tune(id=9), Tune(id=9, model_type="pti", base_tune_id=FLUX),
                  Tune(id=9, model_type="lora"), Tune(id=9, model_type="lora", branch="sd15"),
                  9):
        found = route(plain, "x")
        assert (found.tune_id, found.text, found.routed) == (9, "x", False)
    assert route(9, "x").describe() == "posted to tune 9"


def test_memory_is_bounded_and_forgets_non_routed() -> None:
    routes = TuneRoutes(size=2)
    for tid in (1, 2, 3):
        routes.remember(Tune(id=tid, model_type="lora", base_tune_id=FLUX))
    assert not routes.route(1, "x").routed  # the oldest was dropped
    assert routes.route(3, "x").routed
    routes.remember(Tune(id=3))  # now a checkpoint: no longer routed
    assert not routes.route(3, "x").routed
    for tid in (4, 5, 4, 6):  # seeing 4 again makes it the newest: 5 is the one dropped
        routes.remember(Tune(id=tid, model_type="lora", base_tune_id=FLUX))
    assert routes.route(4, "x").routed and routes.route(6, "x").routed
    assert not routes.route(5, "x").routed


# --- the library ----------------------------------------------------------------------------


async def test_a_lora_tune_object_routes_to_its_base(astria_fake: FakeAstria,
                                                      client: AstriaClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    tid = _lora(astria_fake)
    tune = await client.tunes.get(tid)
    with caplog.at_level(logging.DEBUG, logger="astria_async"):
        prompt = await client.prompts.create(tune, text="ohwx man in a suit")
    assert prompt.tune_id == FLUX
    assert prompt.text == f"<lora:{tid}:1> ohwx man in a suit"
    assert [t["id"] for t in prompt.tunes] == [tid]
    assert f"lora tune {tid} runs on its base model {FLUX}" in caplog.text
    assert astria_fake.count("POST", f"/tunes/{FLUX}/prompts") == 1
    assert client.fair_use.count(tid) == 1 and client.fair_use.count(FLUX) == 0
    done = await prompt.wait_images()
    assert done.images


async def test_a_seen_bare_id_routes_and_an_unseen_one_is_sent_as_given(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    seen, unseen = _lora(astria_fake, "faceid"), _lora(astria_fake)
    async for _ in client.tunes.list():  # the list is enough to know them
        pass
    prompt = await client.prompts.create(seen, text=f"<faceid:{seen}:1> woman")
    assert (prompt.tune_id, prompt.text) == (FLUX, f"<faceid:{seen}:1> woman")
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url) as fresh:
        with pytest.raises(ValidationError, match="model_type=lora"):
            await fresh.prompts.create(unseen, text="ohwx man")
    assert astria_fake.count("POST", f"/tunes/{unseen}/prompts") == 1


async def test_create_from_and_feed_route_too(astria_fake: FakeAstria,
                                               client: AstriaClient) -> None:
    tid = _lora(astria_fake)
    client.feed(Tune.from_dict(astria_fake.tune(tid) | {"base_tune_id": FLUX}))
    prompt = await client.prompts.create_from(tid, PromptParams(text="ohwx man", num_images=2))
    assert prompt.tune_id == FLUX and prompt.num_images == 2


def test_mark_adds_the_tune_when_the_answer_lacks_it() -> None:
    from astria_async import Prompt

    lora = Tune(id=7, title="me", model_type="lora", base_tune_id=FLUX)
    marked = route(lora, "x").mark(Prompt(id=1, tune_id=FLUX))
    assert marked.tunes == ({"id": 7, "title": "me", "name": None, "model_type": "lora",
                             "branch": None},)
    assert route(7, "x").mark(marked) is marked


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def thread() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def test_cli_gen_on_a_lora_tune_runs_on_the_base(thread: FakeThread) -> None:
    tid = int(thread.call(lambda f: f.add_tune(model_type="lora", base_tune_id=FLUX))["id"])
    result = thread.invoke("--json", "gen", str(tid), "ohwx man")
    assert result.exit_code == 0, result.stderr
    prompt = stdout_json(result)
    assert prompt["tune_id"] == FLUX and prompt["text"].startswith(f"<lora:{tid}:1> ")
    assert f"on base model {FLUX} for lora tune {tid}" in result.stderr


def test_cli_gen_on_an_unreadable_tune_posts_the_bare_id(thread: FakeThread) -> None:
    result = thread.invoke("gen", "424242", "x", "--no-wait")
    assert result.exit_code == 1 and "NotFoundError" in result.stderr
    assert thread.count("POST", "/tunes/424242/prompts") == 1
