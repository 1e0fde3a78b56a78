"""The fair-use guard: caps checked before sending, the right tune counted, in-flight bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from astria_async import AstriaClient, FairUseError, FairUsePolicy, Prompt, WaitPolicy, errors
from astria_async.params import PromptParams, TuneParams
from astria_async.testing import FakeAstria
from astria_async.waiting.fairuse import FairUseEvent

FLUX = 1504944
GEMINI = 3618064
QUICK = WaitPolicy(interval=0.05, multiplier=1.5, max_interval=0.2, jitter=0.1, timeout=20)
NO_IN_FLIGHT = FairUsePolicy(max_in_flight_per_tune=None, max_in_flight=None)
POSTS = "/tunes/*/prompts"


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 1.0, "fast_train_seconds": 0.2, "prompt_seconds": 0.3}


def _client(fake: FakeAstria, fair_use: FairUsePolicy | None = NO_IN_FLIGHT) -> AstriaClient:
    return AstriaClient(api_key=fake.api_key, base_url=fake.url, wait=QUICK, fair_use=fair_use)


@pytest.fixture
async def client(astria_fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with _client(astria_fake) as c:
        yield c


def _lora(fake: FakeAstria) -> int:
    return int(fake.add_tune(branch="flux1", model_type="lora")["id"])


# --- the policy ----------------------------------------------------------------------------


def test_policy_defaults_and_validation() -> None:
    policy = FairUsePolicy()
    assert (policy.prompts_per_tune, policy.automatic_prompts, policy.tune_cap) == (14, 7, 21)
    assert policy.max_images == 8 and policy.exempt_fast
    assert policy.max_in_flight_per_tune == 8 and policy.max_in_flight == 64
    cases: list[tuple[str, Any]] = [("prompts_per_tune", -1), ("max_images", 1.5),
                                    ("max_in_flight", 0), ("max_in_flight_per_tune", True),
                                    ("place_timeout", 0), ("place_timeout", "5")]
    for field, bad in cases:
        with pytest.raises(ValueError, match=f"FairUsePolicy.{field}"):
            FairUsePolicy(**{field: bad})


async def test_on_by_default_and_off_with_none() -> None:
    async with AstriaClient("k") as on, AstriaClient("k", fair_use=None) as off:
        assert on.fair_use.enabled and on.fair_use.policy == FairUsePolicy()
        assert not off.fair_use.enabled
        assert off.fair_use.check(1, PromptParams(text="x", num_images=8)) == ()


# --- caps: refused before anything is sent -------------------------------------------------


async def test_lora_prompts_count_against_the_referenced_tune(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    mine, other = _lora(astria_fake), _lora(astria_fake)
    for i in range(21):
        await client.prompts.create(FLUX, text=f"<lora:{mine}:1> ohwx man, take {i}")
    assert client.fair_use.count(mine) == 21 and client.fair_use.count(FLUX) == 0
    astria_fake.clear_log()
    with pytest.raises(FairUseError) as caught:
        await client.prompts.create(FLUX, text=f"<lora:{mine}:0.8> ohwx man, once more")
    assert astria_fake.count("*", "*") == 0  # nothing sent, nothing charged
    message = str(caught.value)
    assert f"tune {mine}" in message and "21" in message and "prompts_per_tune" in message
    assert "fair_use=None" in message
    # The shared base model is not capped: another LoRA on it still works.
    await client.prompts.create(FLUX, text=f"<lora:{other}:1> ohwx woman")
    assert astria_fake.count("POST", POSTS) == 1


async def test_references_count_against_every_referenced_tune(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    a = int(astria_fake.add_tune(name="woman", model_type="faceid", base_tune_id=GEMINI)["id"])
    b = int(astria_fake.add_tune(name="dress", model_type="faceid", base_tune_id=GEMINI)["id"])
    await client.prompts.create(GEMINI, text=f"<faceid:{a}:1> woman wearing <faceid:{b}:1> dress")
    assert (client.fair_use.count(a), client.fair_use.count(b)) == (1, 1)
    assert client.fair_use.count(GEMINI) == 0
    # A plain prompt on a gallery model uses nobody's tune.
    await client.prompts.create(GEMINI, text="a red dress on a mannequin")
    assert client.fair_use.count(GEMINI) == 0


async def test_a_checkpoint_prompt_counts_against_its_own_tune(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    tune = int(astria_fake.add_tune(branch="sd15")["id"])
    client.fair_use.record(tune, 21)
    with pytest.raises(FairUseError):
        await client.prompts.create(tune, text="sks man")
    assert astria_fake.count("POST", POSTS) == 0


async def test_image_cap_refuses_before_sending(astria_fake: FakeAstria) -> None:
    async with _client(astria_fake, FairUsePolicy(max_images=4)) as c:
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        with pytest.raises(FairUseError, match="max_images"):
            await c.prompts.create(tune, text="sks man", num_images=5)
        assert astria_fake.count("POST", POSTS) == 0 and c.fair_use.count(tune) == 0
        await c.prompts.create(tune, text="sks man", num_images=4)
        assert astria_fake.count("POST", POSTS) == 1


async def test_fast_tunes_the_client_has_seen_are_exempt(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    fast = await client.tunes.get(astria_fake.add_tune(branch="fast")["id"])
    assert fast.is_fast
    for i in range(23):
        await client.prompts.create(fast, text=f"ohwx man {i}")
    assert astria_fake.count("POST", POSTS) == 23 and client.fair_use.count(fast.id) == 0
    # A fast LoRA referenced from the base model is exempt too.
    fast_lora = await client.tunes.get(
        astria_fake.add_tune(branch="fast", model_type="lora")["id"])
    client.fair_use.record(fast_lora.id, 50)
    await client.prompts.create(FLUX, text=f"<lora:{fast_lora.id}:1> ohwx man")


async def test_off_means_no_caps(astria_fake: FakeAstria) -> None:
    async with _client(astria_fake, None) as c:
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        c.fair_use.record(tune, 100)
        await c.prompts.create(tune, text="sks man")
        assert astria_fake.count("POST", POSTS) == 1


async def test_custom_cap(astria_fake: FakeAstria) -> None:
    policy = attrs.evolve(NO_IN_FLIGHT, prompts_per_tune=2, automatic_prompts=0)
    async with _client(astria_fake, policy) as c:
        tune = _lora(astria_fake)
        for _ in range(2):
            await c.prompts.create(FLUX, text=f"<lora:{tune}:1> ohwx man")
        with pytest.raises(FairUseError, match="cap is 2"):
            await c.prompts.create(FLUX, text=f"<lora:{tune}:1> ohwx man")


async def test_seed_from_the_server(astria_fake: FakeAstria, client: AstriaClient) -> None:
    lora = _lora(astria_fake)
    checkpoint = int(astria_fake.add_tune(branch="sd15")["id"])
    for _ in range(20):  # made elsewhere: LoRA prompts live under the base model
        astria_fake.add_prompt(lora, "ohwx man")
    for _ in range(3):
        astria_fake.add_prompt(checkpoint, "sks man")
    assert await client.fair_use.seed(lora) == 20
    assert await client.fair_use.seed(checkpoint) == 3
    assert await client.fair_use.seed(checkpoint, count=1) == 1  # the server's word, lower too
    assert await client.fair_use.seed(checkpoint) == 3
    await client.prompts.create(FLUX, text=f"<lora:{lora}:1> ohwx man")
    with pytest.raises(FairUseError):
        await client.prompts.create(FLUX, text=f"<lora:{lora}:1> ohwx man")
    assert client.fair_use.count(lora) == 21


async def test_refused_creates_are_uncounted_maybe_created_ones_are_not(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    tune = int(astria_fake.add_tune(branch="sd15")["id"])
    astria_fake.fail(f"/tunes/{tune}/prompts", 422, method="POST")
    with pytest.raises(errors.ValidationError):
        await client.prompts.create(tune, text="sks man")
    assert client.fair_use.count(tune) == 0  # Astria refused it: nothing to count
    astria_fake.fail(f"/tunes/{tune}/prompts", 500, method="POST", after_commit=True)
    with pytest.raises(errors.ServerError):
        await client.prompts.create(tune, text="sks man")
    assert client.fair_use.count(tune) == 1  # it may exist (here it does), so it counts
    assert client.fair_use.in_flight() == 0  # but it cannot be tracked


async def test_tune_create_counts_its_prompts(astria_fake: FakeAstria,
                                              client: AstriaClient) -> None:
    params = TuneParams(title="job", name="man", image_urls=("https://x.test/a.jpg",),
                        branch="sd15", prompts=(PromptParams(text="sks man"),) * 3)
    tune = await client.tunes.create_from(params)
    assert client.fair_use.count(tune.id) == 3


# --- in flight -------------------------------------------------------------------------------


async def test_creates_wait_for_an_in_flight_place(astria_fake: FakeAstria) -> None:
    policy = FairUsePolicy(max_in_flight_per_tune=2)
    async with _client(astria_fake, policy) as c:
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        creates = [asyncio.ensure_future(c.prompts.create(tune, text=f"sks man {i}"))
                   for i in range(5)]
        await asyncio.sleep(0.15)  # prompts take 0.3 s
        assert astria_fake.count("POST", POSTS) == 2
        assert c.fair_use.in_flight(tune) == 2 and not any(t.done() for t in creates[2:])
        prompts = await asyncio.gather(*creates)
        assert astria_fake.count("POST", POSTS) == 5
        # The board refreshed the blocking prompts while creates waited (coalesced).
        assert astria_fake.count("GET", "/prompts*") >= 2
        assert c.fair_use.in_flight(tune) <= 2
        await c.wait_all(prompts)
        assert c.fair_use.in_flight() == 0


async def test_overall_in_flight_bound_and_callbacks_free_places(
        astria_fake: FakeAstria) -> None:
    policy = FairUsePolicy(max_in_flight=1)
    slow = WaitPolicy(interval=30, max_interval=30, timeout=60)  # no polling in this test
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url, wait=slow,
                            fair_use=policy) as c:
        a, b = (int(astria_fake.add_tune(branch="sd15")["id"]) for _ in range(2))
        first = await c.prompts.create(a, text="sks man")
        second = asyncio.ensure_future(c.prompts.create(b, text="sks woman"))
        await asyncio.sleep(0.05)
        assert not second.done() and astria_fake.count("POST", POSTS) == 1
        # A callback for the first prompt frees its place at once.
        c.feed(Prompt.from_dict({**astria_fake.prompt(first.id), "images": ["https://x/1"]}))
        await asyncio.wait_for(second, 1)
        assert astria_fake.count("POST", POSTS) == 2


async def test_cancelled_while_waiting_for_a_place_is_uncounted(
        astria_fake: FakeAstria) -> None:
    async with _client(astria_fake, FairUsePolicy(max_in_flight_per_tune=1)) as c:
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        await c.prompts.create(tune, text="sks man")
        waiting = asyncio.ensure_future(c.prompts.create(tune, text="sks man 2"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert c.fair_use.count(tune) == 1 and astria_fake.count("POST", POSTS) == 1


async def test_close_releases_creates_waiting_for_a_place(astria_fake: FakeAstria) -> None:
    c = _client(astria_fake, FairUsePolicy(max_in_flight_per_tune=1))
    tune = int(astria_fake.add_tune(branch="sd15")["id"])
    await c.prompts.create(tune, text="sks man")
    waiting = asyncio.ensure_future(c.prompts.create(tune, text="sks man 2"))
    await asyncio.sleep(0.02)
    await c.aclose()
    with pytest.raises(errors.ClientClosedError):
        await asyncio.wait_for(waiting, 1)
    assert astria_fake.count("POST", POSTS) == 1


# --- what a program can read from a refusal ----------------------------------------------------


async def test_fair_use_error_carries_the_limit_and_the_numbers(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    tune = int(astria_fake.add_tune(branch="sd15")["id"])
    await client.fair_use.seed(tune, count=21)
    with pytest.raises(FairUseError) as caught:
        await client.prompts.create(tune, text="sks man")
    error = caught.value
    assert (error.limit, error.tune_id, error.cap, error.used, error.in_flight) == (
        "prompts_per_tune", tune, 21, 21, None)
    async with _client(astria_fake, FairUsePolicy(max_images=2)) as small:
        with pytest.raises(FairUseError) as caught:
            await small.prompts.create(tune, text="sks man", num_images=4)
    assert (caught.value.limit, caught.value.tune_id, caught.value.cap, caught.value.used) == (
        "max_images", tune, 2, 4)
    assert FairUseError("old style").tune_id is None  # existing raisers keep working


async def test_a_create_waiting_for_a_place_says_so_and_gives_up_at_its_deadline(
        astria_fake: FakeAstria, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="astria_async")
    # No look at the blocking prompt within the create's 0.3 s deadline.
    wait = WaitPolicy(interval=30, max_interval=30, timeout=60)
    policy = FairUsePolicy(max_in_flight_per_tune=1, place_timeout=0.3)
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url, wait=wait,
                            fair_use=policy) as c:
        events: list[FairUseEvent] = []
        c.fair_use.listeners.append(events.append)
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        await c.prompts.create(tune, text="sks man")
        with pytest.raises(FairUseError) as caught:
            await c.prompts.create(tune, text="sks man 2")
    error = caught.value
    assert (error.limit, error.tune_id, error.cap, error.in_flight) == (
        "max_in_flight_per_tune", tune, 1, 1)
    assert "nothing was sent" in str(error) and astria_fake.count("POST", POSTS) == 1
    assert c.fair_use.count(tune) == 1  # the refused create is not counted
    assert [e.kind for e in events] == ["waiting", "gave_up"]
    assert events[0] == FairUseEvent("waiting", (tune,), "max_in_flight_per_tune", 1, 1)
    said = [r for r in caplog.records if "the create waits" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "INFO"


async def test_a_create_that_got_a_place_after_waiting_is_told(
        astria_fake: FakeAstria) -> None:
    async with _client(astria_fake, FairUsePolicy(max_in_flight_per_tune=1)) as c:
        events: list[FairUseEvent] = []
        c.fair_use.listeners.append(events.append)
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        await c.prompts.create(tune, text="sks man")
        await c.prompts.create(tune, text="sks man 2")
    assert [e.kind for e in events] == ["waiting", "placed"]


async def test_places_of_prompts_nobody_waits_for_free_when_they_finish(
        astria_fake: FakeAstria) -> None:
    async with _client(astria_fake, FairUsePolicy(max_in_flight_per_tune=2)) as c:
        tune = int(astria_fake.add_tune(branch="sd15")["id"])
        prompt = await c.prompts.create(tune, text="sks man")
        wait = asyncio.ensure_future(prompt.wait_images())
        await asyncio.sleep(0.05)
        wait.cancel()  # the user gave up waiting; the prompt still runs at Astria
        await asyncio.gather(wait, return_exceptions=True)
        assert c.fair_use.in_flight(tune) == 1
        for _ in range(100):  # the prompt takes 0.3 s; the board looks every 0.2 s at most
            if not c.fair_use.in_flight(tune):
                break
            await asyncio.sleep(0.02)
        assert c.fair_use.in_flight(tune) == 0
        assert c._prompt_board.watched == 0  # and the board stopped watching it
