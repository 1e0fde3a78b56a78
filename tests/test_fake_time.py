"""FakeAstria: clock-driven training/processing, callbacks and idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from astria_async.testing import CallbackRecorder, FakeAstria, FakeClock

URL = "https://example.com/a.jpg"


@pytest.fixture
def fake_options() -> dict[str, Any]:
    return {"clock": FakeClock.manual(start=1_800_000_000.0), "train_seconds": 60,
            "fast_train_seconds": 5, "prompt_seconds": 10}


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackRecorder]:
    async with CallbackRecorder() as recorder:
        yield recorder


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _create_tune(fake: FakeAstria, **attrs: Any) -> dict[str, Any]:
    body = {"tune": {"title": "t", "name": "man", "image_urls": [URL], **attrs}}
    status, tune = await fake.call("POST", "/tunes", json=body)
    assert status == 201, tune
    return dict(tune)


def test_clock_modes() -> None:
    manual = FakeClock.manual(start=100.0)
    assert (manual.now(), manual.is_manual, manual.real_delay(5)) == (100.0, True, None)
    manual.advance(2.5)
    assert manual.now() == 102.5
    with pytest.raises(ValueError):
        manual.advance(-1)
    fast = FakeClock(time_scale=100, start=0.0)
    assert fast.real_delay(50) == 0.5
    assert 0.0 <= fast.now() < 50.0


async def test_tune_trains_after_train_seconds(fake: FakeAstria) -> None:
    tune = await _create_tune(fake, branch="sd15")
    assert tune["trained_at"] is None and tune["expires_at"] is None
    assert _ts(tune["eta"]) - _ts(tune["created_at"]) == 60
    await fake.advance(59.9)
    assert fake.tune(tune["id"])["trained_at"] is None
    await fake.advance(0.1)
    trained = (await fake.call("GET", f"/tunes/{tune['id']}"))[1]
    assert trained["trained_at"] == tune["eta"]
    assert _ts(trained["expires_at"]) - _ts(trained["trained_at"]) == 30 * 86400
    assert trained["updated_at"] == trained["trained_at"]


async def test_fast_branch_is_quicker_and_free(fake: FakeAstria) -> None:
    tune = await _create_tune(fake, branch="fast")
    assert tune["cost_mc"] == 0
    await fake.advance(5)
    assert fake.tune(tune["id"])["trained_at"] is not None
    _, prompt = await fake.call("POST", f"/tunes/{tune['id']}/prompts",
                                json={"prompt": {"text": "ohwx man", "num_images": 2}})
    assert prompt["cost_mc"] == 0
    await fake.advance(10)
    images = fake.prompt(prompt["id"])["images"]
    assert len(images) == 2 and all(url.endswith("/mock") for url in images)


async def test_references_are_trained_at_once(fake: FakeAstria) -> None:
    faceid = await _create_tune(fake, model_type="faceid", base_tune_id=690204)
    gemini = await _create_tune(fake, name="dress", base_tune_id=3159068)
    assert faceid["trained_at"] == faceid["created_at"]
    assert (gemini["branch"], gemini["model_type"]) == ("gemini-2", "faceid")
    assert gemini["trained_at"] is not None


async def test_prompt_waits_for_its_tune_then_finishes(fake: FakeAstria) -> None:
    tune = await _create_tune(fake, branch="sd15")
    _, prompt = await fake.call("POST", f"/tunes/{tune['id']}/prompts",
                                json={"prompt": {"text": "sks man", "num_images": 3}})
    await fake.advance(60)
    started = fake.prompt(prompt["id"])
    assert started["started_training_at"] == fake.tune(tune["id"])["trained_at"]
    assert started["images"] == [] and started["trained_at"] is None
    await fake.advance(10)
    done = (await fake.call("GET", f"/prompts/{prompt['id']}.json"))[1]
    assert len(done["images"]) == 3 and done["user_error"] is None
    assert _ts(done["trained_at"]) - _ts(done["started_training_at"]) == 10


async def test_lora_prompt_on_base_waits_for_every_referenced_tune(fake: FakeAstria) -> None:
    early = await _create_tune(fake, branch="flux1")
    await fake.advance(30)
    late = await _create_tune(fake, branch="flux1", title="late")
    text = f"<lora:{early['id']}:1> <lora:{late['id']}:0.5> two people"
    _, prompt = await fake.call("POST", "/tunes/1504944/prompts", json={"prompt": {"text": text}})
    assert prompt["tune_id"] == 1504944
    assert [t["id"] for t in prompt["tunes"]] == [early["id"], late["id"]]
    await fake.advance(30 + 10)  # early trained, late still training
    assert fake.prompt(prompt["id"])["images"] == []
    await fake.advance(30)  # late trained 60 s after creation, +10 s processing
    assert len(fake.prompt(prompt["id"])["images"]) == 1


async def test_fail_rule_sets_user_error_without_images(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    _, prompt = await fake.call("POST", f"/tunes/{tune['id']}/prompts",
                                json={"prompt": {"text": "please FAIL"}})
    assert prompt["user_error"] is None  # only known once processing ends
    await fake.advance(10)
    failed = fake.prompt(prompt["id"])
    assert failed["images"] == [] and failed["trained_at"] is not None
    assert "Content policy" in failed["user_error"]


async def test_custom_fail_rule() -> None:
    def rule(prompt: dict[str, Any]) -> str | None:
        return "seed refused" if prompt.get("seed") == 13 else None

    async with FakeAstria(clock=FakeClock.manual(), prompt_seconds=1, fail_rule=rule) as fake:
        tune = fake.add_tune(branch="sd15")
        bad = fake.add_prompt(tune["id"], "FAIL is fine here", seed=13)
        good = fake.add_prompt(tune["id"], "FAIL is fine here", seed=1)
        await fake.advance(1)
        assert fake.prompt(bad["id"])["user_error"] == "seed refused"
        assert fake.prompt(good["id"])["user_error"] is None


async def test_callbacks_wrapped_and_in_order(
    fake: FakeAstria, receiver: CallbackRecorder,
) -> None:
    tune = await _create_tune(fake, branch="sd15", callback=receiver.url("/tune?secret=s1"),
                              prompts_attributes=[{"text": "sks man",
                                                   "callback": receiver.url("/prompt")}])
    assert await fake.advance(59) == []
    fired = await fake.advance(11)
    assert [(c.kind, c.status, c.error) for c in fired] == [("tune", 200, None),
                                                             ("prompt", 200, None)]
    assert receiver.paths == ["/tune?secret=s1", "/prompt"]
    tune_body, prompt_body = receiver.received
    assert tune_body["tune"]["id"] == tune["id"] and tune_body["tune"]["trained_at"]
    assert len(prompt_body["prompt"]["images"]) == 1
    assert await fake.advance(1000) == []  # delivered once, never again


async def test_failed_prompt_still_calls_back(
    fake: FakeAstria, receiver: CallbackRecorder,
) -> None:
    tune = fake.add_tune(branch="sd15")
    fake.add_prompt(tune["id"], "FAIL", callback=receiver.url())
    await fake.advance(10)
    assert receiver.received[0]["prompt"]["user_error"]


async def test_callback_failures_are_recorded_not_retried(fake: FakeAstria) -> None:
    async with CallbackRecorder(status=500) as broken:
        tune = fake.add_tune(branch="sd15")
        fake.add_prompt(tune["id"], "a", callback=broken.url())
        fake.add_prompt(tune["id"], "b", callback="https://example.com/hook")
        fake.add_prompt(tune["id"], "c", callback="http://127.0.0.1:1/closed")
        fired = await fake.advance(10)
        assert len(broken.received) == 1
    outcome = {c.url: (c.status, c.error) for c in fired}
    assert outcome[broken.url()] == (500, None)
    assert outcome["https://example.com/hook"][1] is not None
    assert "loopback" in str(outcome["https://example.com/hook"][1])
    closed = outcome["http://127.0.0.1:1/closed"]
    assert closed[0] is None and closed[1]
    assert await fake.advance(100) == []
    assert len(fake.callbacks) == 3


async def test_deleted_objects_do_not_call_back(
    fake: FakeAstria, receiver: CallbackRecorder,
) -> None:
    tune = await _create_tune(fake, branch="sd15", callback=receiver.url())
    await fake.call("DELETE", f"/tunes/{tune['id']}")
    assert await fake.advance(120) == []


async def test_callbacks_fire_on_their_own_with_a_running_clock(
    receiver: CallbackRecorder,
) -> None:
    # 1000× speed: 20 fake seconds of training take 20 ms of real time.
    async with FakeAstria(clock=FakeClock(time_scale=1000), train_seconds=20,
                          prompt_seconds=10) as fake:
        await _create_tune(fake, branch="sd15", callback=receiver.url(),
                           prompts_attributes=[{"text": "sks man", "callback": receiver.url()}])
        bodies = await receiver.wait_for(2, timeout=5)
    assert [next(iter(body)) for body in bodies] == ["tune", "prompt"]


async def test_idempotent_tunes_and_prompts() -> None:
    async with FakeAstria(clock=FakeClock.manual(), idempotent=True) as fake:
        first = await _create_tune(fake, title="order-7f3c", branch="sd15")
        again = await _create_tune(fake, title="order-7f3c", branch="sd15", name="woman")
        assert again["id"] == first["id"] and len(fake.tunes) == 1
        path = f"/tunes/{first['id']}/prompts"
        body: dict[str, Any] = {"prompt": {"text": "sks man", "seed": 1, "num_images": 2}}
        one = (await fake.call("POST", path, json=body))[1]
        same = (await fake.call("POST", path, json=body))[1]
        body["prompt"]["seed"] = 2
        other = (await fake.call("POST", path, json=body))[1]
        assert same["id"] == one["id"] != other["id"]
        assert len(fake.prompts) == 2


async def test_without_idempotency_titles_repeat(fake: FakeAstria) -> None:
    first = await _create_tune(fake, title="dup")
    second = await _create_tune(fake, title="dup")
    assert first["id"] != second["id"]


async def test_scaled_clock_needs_no_advance() -> None:
    async with FakeAstria(clock=FakeClock(time_scale=1000), train_seconds=5) as fake:
        tune = await _create_tune(fake, branch="sd15")
        await asyncio.sleep(0.01)  # 10 fake seconds
        assert fake.tune(tune["id"])["trained_at"] is not None


async def test_add_prompt_routes_lora_tunes_to_their_base(fake: FakeAstria) -> None:
    lora = fake.add_tune(branch="flux1", workspace="5")
    prompt = fake.add_prompt(lora["id"], "ohwx man", seed=1)
    assert prompt["tune_id"] == 1504944
    assert prompt["text"] == f"<lora:{lora['id']}:1> ohwx man"
    assert (await fake.call("GET", "/prompts", workspace="5"))[1][0]["id"] == prompt["id"]
    await fake.advance(10)
    assert len(fake.prompt(prompt["id"])["images"]) == 1
