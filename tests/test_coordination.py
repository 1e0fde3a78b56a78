"""Coordination through a real redis-server: the shared ledger, pause and callback fan-out."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _fresh import loaded
from _redisserver import SKIP, RedisServer, free_port, serve

from astria_async import (
    AstriaClient,
    CoordinationError,
    FairUseError,
    FairUsePolicy,
    WaitPolicy,
    errors,
)
from astria_async.coordination import _redis, namespace_for
from astria_async.coordination._redis import redacted
from astria_async.errors import ConfigurationError, RateLimitError
from astria_async.testing import FakeAstria

pytestmark = SKIP

FLUX = 1504944
DEFAULT = FairUsePolicy()
SLOW = WaitPolicy(interval=30, max_interval=30, timeout=60)
QUICK = WaitPolicy(interval=0.05, multiplier=1.5, max_interval=0.2, jitter=0.1, timeout=20)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from serve(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def namespace() -> str:
    return uuid.uuid4().hex[:12]


def _client(fake: FakeAstria, server: RedisServer, namespace: str,
            policy: FairUsePolicy = DEFAULT) -> AstriaClient:
    return AstriaClient(api_key=fake.api_key, base_url=fake.url, wait=QUICK, fair_use=policy,
                        coordination=server.url, namespace=namespace)


@pytest.fixture
async def pair(astria_fake: FakeAstria, redis_server: RedisServer,
               namespace: str) -> AsyncIterator[tuple[AstriaClient, AstriaClient]]:
    async with _client(astria_fake, redis_server, namespace) as a, \
            _client(astria_fake, redis_server, namespace) as b:
        yield a, b


def _lora(fake: FakeAstria) -> int:
    return int(fake.add_tune(branch="flux1", model_type="lora")["id"])


# --- set-up ---------------------------------------------------------------------------------


def test_importing_the_package_does_not_import_redis() -> None:
    assert loaded("import astria_async", ("redis",)) == []


async def test_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        AstriaClient("k", coordination="http://localhost:6379")
    with pytest.raises(ConfigurationError, match="namespace"):
        AstriaClient("k", coordination="redis://localhost", namespace="a:b")
    assert namespace_for("k") == namespace_for("k") != namespace_for("other")
    assert redacted("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"
    monkeypatch.setenv("ASTRIA_REDIS_URL", "redis://127.0.0.1:1/0")
    async with AstriaClient("k", coordination="") as plain:  # "" turns the env off
        assert plain.fair_use.ledger is None
    client = AstriaClient("k")
    assert client.fair_use.ledger is not None
    await client.aclose()


async def test_refuses_a_redis_without_append_only_file(tmp_path: Path) -> None:
    for server in serve(tmp_path, appendonly=False):
        with pytest.raises(CoordinationError, match="appendonly yes"):
            async with AstriaClient("k", coordination=server.url):
                pass  # pragma: no cover - refused on entry


async def test_unreachable_redis_stops_creates(astria_fake: FakeAstria) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    client = AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                          coordination=url)
    try:
        with pytest.raises(CoordinationError, match="unreachable") as caught:
            await client.prompts.create(_lora(astria_fake), text="ohwx man")
        assert "127.0.0.1" in str(caught.value)
        assert astria_fake.count("POST", "*") == 0  # nothing sent without a reservation
        assert not errors.maybe_processed(caught.value)  # batch recovery need not look it up
    finally:
        await client.aclose()


# --- the shared fair-use ledger ---------------------------------------------------------------


async def test_cap_is_shared_by_two_clients(
        astria_fake: FakeAstria, pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    tune = _lora(astria_fake)
    for i in range(21):
        await (a if i % 2 else b).prompts.create(FLUX, text=f"<lora:{tune}:1> take {i}")
    astria_fake.clear_log()
    with pytest.raises(FairUseError, match="all the workers") as caught:
        await a.prompts.create(FLUX, text=f"<lora:{tune}:1> once more")
    assert f"tune {tune}" in str(caught.value) and "21" in str(caught.value)
    assert astria_fake.count("POST", "*") == 0
    ledger = a.fair_use.ledger
    assert ledger is not None
    assert await ledger.count(tune) == 21  # type: ignore[attr-defined]


async def test_a_create_refused_by_astria_gives_its_place_back(
        astria_fake: FakeAstria, pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    tune = _lora(astria_fake)
    astria_fake.fail("/tunes", status=422, method="POST")
    with pytest.raises(Exception, match=r"422|nprocessable"):
        await a.prompts.create(FLUX, text=f"<lora:{tune}:1> refused")
    ledger = b.fair_use.ledger
    assert ledger is not None
    assert await ledger.count(tune) == 0  # type: ignore[attr-defined]
    assert await ledger.in_flight() == 0  # type: ignore[attr-defined]
    # A 500 may have created it: the count stays.
    astria_fake.fail("/tunes", status=500, method="POST", after_commit=True)
    with pytest.raises(Exception, match=r"500|nternal"):
        await a.prompts.create(FLUX, text=f"<lora:{tune}:1> maybe")
    assert await ledger.count(tune) == 1  # type: ignore[attr-defined]


async def test_seed_and_record_reach_the_ledger(pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    assert await a.fair_use.seed(77, count=5) == 5
    b.fair_use.record(77, 3)
    ledger = b.fair_use.ledger
    assert ledger is not None
    for _ in range(100):
        if await ledger.count(77) == 8:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    assert await ledger.count(77) == 8  # type: ignore[attr-defined]
    assert await b.fair_use.seed(77, count=2) == 2  # this client lowers; the ledger keeps 8
    assert await ledger.count(77) == 8  # type: ignore[attr-defined]


async def test_a_tune_is_counted_on_the_server_by_one_worker_only(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    # Workers starting one batch together each seed their tunes: one of them lists the
    # tune's prompts on the server, the others start from the shared count.
    tune = _lora(astria_fake)
    for i in range(3):  # made elsewhere (the web app): only the server knows of them
        astria_fake.add_prompt(tune_id=FLUX, text=f"<lora:{tune}:1> earlier {i}")
    clients = [_client(astria_fake, redis_server, namespace) for _ in range(3)]
    try:
        for client in clients:
            await client.__aenter__()
        astria_fake.clear_log()
        assert await clients[0].prompts.charged_to(tune) == 3
        once = len(astria_fake.requests)  # what counting it on the server costs
        astria_fake.clear_log()
        counts = await asyncio.gather(*(c.fair_use.seed(tune) for c in clients))
        assert counts == [3, 3, 3]
        assert len(astria_fake.requests) == once  # one worker counted it, not three
        astria_fake.clear_log()
        await clients[0].prompts.create(FLUX, text=f"<lora:{tune}:1> now")
        assert await clients[1].fair_use.seed(tune) == 4  # the shared count, no request
        assert astria_fake.count("GET", "*") == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_in_flight_bound_across_clients_frees_when_another_sees_it_finish(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    policy = FairUsePolicy(max_in_flight_per_tune=2, max_in_flight=None)
    tune = _lora(astria_fake)
    async with _client(astria_fake, redis_server, namespace, policy) as a, \
            _client(astria_fake, redis_server, namespace, policy) as b:
        first = [await a.prompts.create(FLUX, text=f"<lora:{tune}:1> {i}") for i in range(2)]
        # b waits for a place; it watches a's prompts itself, sees them finish, and frees them.
        third = await asyncio.wait_for(b.prompts.create(FLUX, text=f"<lora:{tune}:1> 3"), 10)
        assert third.id not in {p.id for p in first}
        ledger = a.fair_use.ledger
        assert ledger is not None
        assert await ledger.count(tune) == 3  # type: ignore[attr-defined]


async def test_a_refused_reservation_names_the_prompts_holding_the_places(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    # The refusal carries the prompts to watch (their finishing frees a place): the waiting
    # worker polls exactly those.
    policy = FairUsePolicy(max_in_flight_per_tune=2, max_in_flight=None)
    tune = _lora(astria_fake)
    async with _client(astria_fake, redis_server, namespace, policy) as a:
        first = [await a.prompts.create(FLUX, text=f"<lora:{tune}:1> {i}") for i in range(2)]
        co = a._coordination
        assert co is not None
        await co._queue.join()  # the places are tied to their prompts (a queued write)
        answer = await co.script("RESERVE", co.ledger._keys,
                                 ["probe", 60_000, policy.tune_cap, 0, 2, tune])
        assert answer[:3] == ["max_in_flight_per_tune", str(tune), 2]
        assert sorted(int(pid) for pid in answer[3:]) == sorted(p.id for p in first)


def _seed_args(co: Any, tune: int, count: int) -> tuple[list[str], list[Any]]:
    """Keys and arguments of the SEED script (raise `tune`'s shared count to `count`)."""
    return [co.key("counts"), co.key(f"seeded:{tune}")], [tune, count, 60_000]


def _count_pipelines(co: Any) -> list[int]:
    """Calls to `co.redis.pipeline` from now on (the queued writes' round trips)."""
    calls: list[int] = []
    original = co.redis.pipeline

    def counted(**kw: Any) -> Any:
        calls.append(1)
        return original(**kw)

    co.redis.pipeline = counted
    return calls


@pytest.fixture
async def started(astria_fake: FakeAstria, redis_server: RedisServer,
                  namespace: str) -> AsyncIterator[Any]:
    """The started Redis coordination of a client."""
    async with _client(astria_fake, redis_server, namespace) as a:
        co = a._coordination
        assert co is not None
        await co.start()
        yield co


async def test_a_worker_stuck_counting_a_tune_is_waited_for_a_while_only(
        started: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    co = started
    monkeypatch.setattr(_redis, "SEED_CLAIM", 0.3)
    # Another worker claimed tune 55 for a minute and hangs (the API is down, say).
    await co.redis.set(co.key("seeded:55"), "busy", px=60_000)
    assert await asyncio.wait_for(co.ledger.seeded(55), 5) is None  # then it counts itself
    await co.ledger.seed(55, 2)
    assert await co.ledger.seeded(55) == 2  # counted now: the others take the shared count


async def test_queued_writes_go_to_redis_in_one_round_trip(started: Any) -> None:
    co = started
    counts = co.key("counts")
    pipelines = _count_pipelines(co)
    for _ in range(5):
        co.later("HINCRBY", [counts], ["9", 1])
    co.later("SEED", *_seed_args(co, 10, 4))
    await co._queue.join()
    assert len(pipelines) == 1  # six writes, one round trip (they were six before)
    assert await co.redis.hmget(counts, ["9", "10"]) == ["5", "4"]


async def test_queued_scripts_survive_redis_losing_them(started: Any) -> None:
    # A restarted Redis (or SCRIPT FLUSH) knows none of the scripts: the queued writes are
    # sent again once they are loaded, not lost.
    co = started
    counts = co.key("counts")
    await co.redis.script_flush()
    pipelines = _count_pipelines(co)
    co.later("SEED", *_seed_args(co, 9, 5))
    co.later("SEED", *_seed_args(co, 10, 6))
    await co._queue.join()
    assert await co.redis.hmget(counts, ["9", "10"]) == ["5", "6"]
    assert len(pipelines) == 3  # refused, the scripts loaded, sent again
    # An awaited script after a flush loads all of them: the next queued write goes at once.
    await co.redis.script_flush()
    assert await co.script("SEED", *_seed_args(co, 9, 7)) == 7
    co.later("SEED", *_seed_args(co, 10, 8))
    await co._queue.join()
    assert await co.redis.hget(counts, "10") == "8"
    assert len(pipelines) == 5  # the load of the awaited one, then one for the write


WORKER = """
import asyncio, json, sys
from astria_async import AstriaClient, FairUseError, WaitPolicy
base, key, url, ns, tune = sys.argv[1:6]

async def main() -> None:
    async with AstriaClient(api_key=key, base_url=base, coordination=url, namespace=ns,
                            wait=WaitPolicy(interval=0.05, jitter=0.1, timeout=30)) as c:
        async def one(i):
            try:
                await c.prompts.create(1504944, text=f"<lora:{tune}:1> worker take {i}")
                return "ok"
            except FairUseError:
                return "refused"
        print(json.dumps(await asyncio.gather(*(one(i) for i in range(10)))))

asyncio.run(main())
"""


async def test_four_processes_on_one_tune_capped_at_21(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    tune = _lora(astria_fake)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, astria_fake.url, astria_fake.api_key, redis_server.url,
        namespace, str(tune), stdout=asyncio.subprocess.PIPE, env=env) for _ in range(4)]
    outcomes: list[str] = []
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0
        outcomes += json.loads(out)
    assert outcomes.count("ok") == 21 and outcomes.count("refused") == 19
    assert astria_fake.count("POST", "/tunes/*/prompts") == 21  # 40 asked, the cap held


# --- the shared pause and callbacks ---------------------------------------------------------


async def test_a_429_seen_by_one_client_pauses_the_other(
        pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    a_pause, b_pause = _pause(a), _pause(b)
    a_pause.rate_limited(RateLimitError("slow down", status=429, retry_after=30.0))
    for _ in range(100):
        if b_pause.until() > 0:
            break
        await asyncio.sleep(0.02)
    assert b_pause.until() == pytest.approx(a_pause.until(), abs=1.0)
    assert b_pause.cause() == a_pause.cause()


async def test_a_new_client_starts_inside_a_running_pause(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str,
        pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, _ = pair
    _pause(a).rate_limited(RateLimitError("slow down", status=429, retry_after=20.0))
    await asyncio.sleep(0.2)
    async with _client(astria_fake, redis_server, namespace) as late:
        assert _pause(late).until() > 0  # nothing further to wait for: read at start


async def test_a_callback_on_one_client_ends_the_wait_on_another(
        astria_fake: FakeAstria, pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    tune = _lora(astria_fake)
    prompt = await a.prompts.create(FLUX, text=f"<lora:{tune}:1> callback")
    # a polls every 30 s: only b's callback can end its wait within the test's 10 s.
    waiting = asyncio.ensure_future(
        a.prompts.wait_images(prompt.id, policy=SLOW))
    body = await _finished(astria_fake, prompt.id)
    b.feed(_structure(body, b))
    done = await asyncio.wait_for(waiting, 10)
    assert done.id == prompt.id and done.images


async def _finished(fake: FakeAstria, prompt_id: int) -> Any:
    """The fake's answer for a prompt once it has images (polled for up to 5 s)."""
    body: Any = None
    for _ in range(100):
        status, body = await fake.call("GET", f"/prompts/{prompt_id}")
        if status == 200 and body.get("images"):
            break
        await asyncio.sleep(0.05)
    return body


def _structure(body: Any, client: AstriaClient) -> Any:
    from astria_async._convert import structure
    from astria_async.models import Prompt
    return structure(body, Prompt, client)


def _pause(client: AstriaClient) -> Any:
    coordination = client._coordination
    assert coordination is not None
    return coordination.pause


# --- one board per account ------------------------------------------------------------------


async def test_only_the_leader_polls_and_the_follower_hears_every_state(
        astria_fake: FakeAstria, pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair
    tune = _lora(astria_fake)
    mine = [await a.prompts.create(FLUX, text=f"<lora:{tune}:1> a {i}") for i in range(3)]
    theirs = [await b.prompts.create(FLUX, text=f"<lora:{tune}:1> b {i}") for i in range(3)]
    done = await asyncio.wait_for(asyncio.gather(a.wait_all(mine), b.wait_all(theirs)), 20)
    assert all(p.images for side in done for p in side)  # type: ignore[union-attr]
    polls = sorted([_board(a).requests, _board(b).requests])
    assert polls[0] == 0 and polls[1] > 0  # one worker polled for both


async def test_a_state_the_leader_knew_before_anyone_waited_reaches_a_late_follower(
        astria_fake: FakeAstria, pair: tuple[AstriaClient, AstriaClient]) -> None:
    a, b = pair  # a leads
    assert a._coordination is not None and a._coordination.leadership.leading
    tune = _lora(astria_fake)
    prompt = await b.prompts.create(FLUX, text=f"<lora:{tune}:1> known early")
    body = await _finished(astria_fake, prompt.id)
    # The leader's board learns the final state while no worker has registered the id (its
    # own wait that ended within one cycle, say): nothing is published then. It never polls
    # a finished id again, so the follower registering it later must still be told.
    assert _board(a).feed(_structure(body, a))
    done = await asyncio.wait_for(b.prompts.wait_images(prompt.id), 10)
    assert done.images


async def test_a_dead_leader_is_replaced(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    a = _client(astria_fake, redis_server, namespace)
    await a.__aenter__()
    async with _client(astria_fake, redis_server, namespace) as b:
        tune = _lora(astria_fake)
        prompt = await b.prompts.create(FLUX, text=f"<lora:{tune}:1> failover")
        waiting = asyncio.ensure_future(b.prompts.wait_images(prompt.id))
        await asyncio.sleep(0.1)
        # a dies without a word: its lease runs out and b takes the polling over.
        coordination = a._coordination
        assert coordination is not None and coordination.leadership.leading
        for task in coordination._tasks:
            task.cancel()
        await asyncio.sleep(0)
        await _board(a).aclose()
        done = await asyncio.wait_for(waiting, 15)
        assert done.images and _board(b).requests > 0
    await a.aclose()


async def test_a_closing_leader_hands_over_at_once(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str) -> None:
    async with _client(astria_fake, redis_server, namespace) as a:
        assert a._coordination is not None and a._coordination.leadership.leading
    async with _client(astria_fake, redis_server, namespace) as b:
        assert b._coordination is not None and b._coordination.leadership.leading


def _board(client: AstriaClient) -> Any:
    return client._prompt_board


# --- Redis failures ---------------------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from serve(tmp_path)


async def test_redis_down_mid_run_stops_creates_keeps_waits_and_recovers(
        astria_fake: FakeAstria, own_server: RedisServer, namespace: str) -> None:
    async with _client(astria_fake, own_server, namespace) as client:
        tune = _lora(astria_fake)
        first = await client.prompts.create(FLUX, text=f"<lora:{tune}:1> before")
        waiting = asyncio.ensure_future(client.prompts.wait_images(first.id))
        own_server.kill()
        astria_fake.clear_log()
        with pytest.raises(CoordinationError, match="unreachable"):
            await client.prompts.create(FLUX, text=f"<lora:{tune}:1> during")
        assert astria_fake.count("POST", "*") == 0  # nothing sent without a reservation
        done = await asyncio.wait_for(waiting, 15)  # the wait polls for itself meanwhile
        assert done.images
        own_server.start()  # the same data (append-only file): work continues
        again = await client.prompts.create(FLUX, text=f"<lora:{tune}:1> after")
        assert again.id != first.id
        ledger = client.fair_use.ledger
        assert ledger is not None
        assert await ledger.count(tune) == 2  # type: ignore[attr-defined]


async def test_redis_killed_with_append_only_file_forgets_nothing(
        astria_fake: FakeAstria, own_server: RedisServer, namespace: str) -> None:
    policy = FairUsePolicy(prompts_per_tune=3, automatic_prompts=0)
    async with _client(astria_fake, own_server, namespace, policy) as client:
        tune = _lora(astria_fake)
        for i in range(3):
            await client.prompts.create(FLUX, text=f"<lora:{tune}:1> {i}")
    own_server.kill()  # SIGKILL: only what the append-only file holds survives
    own_server.start()
    async with _client(astria_fake, own_server, namespace, policy) as fresh:
        astria_fake.clear_log()
        with pytest.raises(FairUseError, match="all the workers"):
            await fresh.prompts.create(FLUX, text=f"<lora:{tune}:1> a fourth")
        assert astria_fake.count("POST", "*") == 0


async def test_a_follower_polls_for_itself_while_redis_is_down(
        astria_fake: FakeAstria, own_server: RedisServer, namespace: str) -> None:
    async with _client(astria_fake, own_server, namespace) as a, \
            _client(astria_fake, own_server, namespace) as b:
        assert b._coordination is not None and not b._coordination.leadership.leading
        prompt = await b.prompts.create(FLUX, text=f"<lora:{_lora(astria_fake)}:1> alone")
        own_server.kill()
        await a._prompt_board.aclose()  # the leader can no longer help either
        done = await asyncio.wait_for(b.prompts.wait_images(prompt.id), 15)
        assert done.images and _board(b).requests > 0
        assert b._coordination.leadership.leading
