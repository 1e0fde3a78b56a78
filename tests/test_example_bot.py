"""examples/discord_style_bot.py: 50 users, deadlines, cancels, fair-use replies."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

import pytest
from _examples import EXAMPLES

from astria_async import AstriaClient, FairUsePolicy, errors
from astria_async.testing import FakeAstria


def _bot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("discord_style_bot",
                                                  EXAMPLES / "discord_style_bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"prompt_seconds": 1.0}


async def test_fifty_users(astria_fake: FakeAstria) -> None:
    bot = _bot()
    policy = FairUsePolicy(prompts_per_tune=8, automatic_prompts=0)
    async with AstriaClient(astria_fake.api_key, base_url=astria_fake.url,
                            fair_use=policy) as client:
        ids = [astria_fake.add_tune(branch="sd15")["id"] for _ in range(5)]
        chat = await bot.simulate(client, ids)
    finals = {user: lines[-1] for user, lines in chat.items()}
    assert len(finals) == 50
    done = {u for u, m in finals.items() if m.startswith("here you go: ")}
    late = {u for u, m in finals.items() if m.startswith("still painting after 0.2 s")}
    cancelled = {u for u, m in finals.items() if m.startswith("cancelled (prompt ")}
    refused = {u for u, m in chat.items() if any("fair" in line for line in m)}
    assert late == {"user03", "user13", "user23", "user33"}
    assert cancelled == {"user07", "user17", "user27", "user37"}
    # The cap is 8 prompts per model. A create that would cross it while earlier creates are
    # still unanswered waits for their answers (one may have reached nobody), so a user who
    # cancels meanwhile (user47) is told "cancelled" before any refusal.
    early = {u for u, m in finals.items() if m == "cancelled"}
    assert early <= {"user47"}
    assert refused | early == {f"user{i}" for i in range(40, 50)}
    assert len(done) == 32 and not done & (late | cancelled | refused)
    assert all(chat[u][0].startswith("this model has had 8 of the 8 prompts") for u in refused)
    assert astria_fake.count("POST", "/tunes/*/prompts") == 40  # refusals sent nothing
    # 40 waits cost about one list request per tick, not 40 requests per tick.
    assert astria_fake.count("GET", "*") < 40


async def test_bot_commands_one_at_a_time_and_error_replies(astria_fake: FakeAstria) -> None:
    bot = _bot()
    said: list[tuple[str, str]] = []

    async def post(user: str, text: str) -> None:
        said.append((user, text))

    async with AstriaClient(astria_fake.api_key, base_url=astria_fake.url) as client:
        b = bot.Bot(client, post, deadline=10)
        tune = astria_fake.add_tune(branch="sd15")["id"]
        first = await b.imagine("ann", tune, "ohwx man", num_images=1)
        assert await b.imagine("ann", tune, "again") is None
        assert not await b.cancel("bob")
        await first
        await (await b.imagine("ann", tune, "x", num_images=99))  # invalid: named, not sent
        await (await b.imagine("ann", 999_999, "x", num_images=1))  # unknown model
    texts = [t for _, t in said]
    assert "you already have a picture on the way" in texts[0]
    assert texts[1] == "nothing to cancel" and texts[3].startswith("here you go")
    assert texts[4].startswith("that command is not valid") and "num_images" in texts[4]
    assert texts[5].startswith("something went wrong")
    replies = [bot.fair_use_message(errors.FairUseError(
        "refused", limit=limit, tune_id=5, cap=cap, used=used, in_flight=used))
        for limit, cap, used in (("max_images", 8, 12), ("max_in_flight", 64, 64), (None, 1, 1))]
    assert replies[0].startswith("at most 8 images per picture, you asked for 12")
    assert replies[1].startswith("busy: 64 pictures are being painted (at most 64 at once)")
    assert replies[2] == "fair-use limit reached, nothing was charged: refused"


async def test_bot_script_runs_on_its_own_fake() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTRIA_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "dev", str(EXAMPLES / "discord_style_bot.py"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert sum("here you go" in line for line in lines) == 32
    assert b"Traceback" not in err and b"Unclosed" not in err
