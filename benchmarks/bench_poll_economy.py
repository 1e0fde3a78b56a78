"""Poll economy: many prompts awaited at once, library waits vs a polling loop per prompt.

Prompts on 10 tunes finish spread over [2, 8) intervals after the waits start. The library
runs one `client.prompts.wait_images` per prompt (all at once, coalesced by its board); the
baseline runs one loop per prompt: `GET /prompts/:id`, sleep one interval, until finished.
Both use a fixed interval (multiplier 1, no jitter) so they poll at the same pace. Requests
come from the fake's log; the detection delay is the time from the fake marking a prompt
finished (`trained_at`) to its waiter returning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from _common import Check, Outcome, bench_main, local_fake, note, percentile, plot, table

from astria_async import AstriaClient, WaitPolicy
from astria_async.testing import FakeClock

NAME = "poll_economy"
RATIO_TARGET = 0.05
TUNES = 10


def finished_at(fake: Any, prompt_id: int) -> float:
    """The fake's finish time of a prompt (epoch seconds on the fake's clock)."""
    stamp = fake.prompt(prompt_id)["trained_at"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def scenario(n: int, interval: float, mode: str) -> dict[str, Any]:
    """`n` prompts, waited on by the library (`mode="library"`) or a loop each ("per-prompt")."""
    spread, lead = 6 * interval, 2 * interval
    async with local_fake(clock=FakeClock(), prompt_seconds=spread + lead) as fake:
        tunes = [fake.add_tune(title=f"bench-{i}")["id"] for i in range(TUNES)]
        ids = []
        for i in range(n):  # prompt i finishes at lead + i * spread / n from the end of seeding
            ids.append(fake.add_prompt(tunes[i % TUNES], f"ohwx man, photo {i}", seed=i)["id"])
            fake.clock.advance(spread / n)
        policy = WaitPolicy(interval=interval, multiplier=1.0, max_interval=interval,
                            jitter=0.0, timeout=60 + 20 * interval)
        delays: list[float] = []
        async with AstriaClient(api_key=fake.api_key, base_url=fake.url,
                                fair_use=None) as client:

            async def library(pid: int) -> None:
                await client.prompts.wait_images(pid, policy=policy)

            async def per_prompt(pid: int) -> None:
                # The naive loop the library replaces (hence the lint waiver).
                while not (await client.prompts.get(pid)).is_finished:  # noqa: ASYNC110
                    await asyncio.sleep(interval)

            wait: Callable[[int], Awaitable[None]] = library if mode == "library" else per_prompt

            async def timed(pid: int) -> None:
                await wait(pid)
                delays.append(fake.clock.now() - finished_at(fake, pid))

            loop = asyncio.get_running_loop()
            fake.clear_log()
            started = loop.time()
            await asyncio.gather(*(timed(pid) for pid in ids))
            elapsed = loop.time() - started
        requests = len(fake.requests)
    return {"n": n, "mode": mode, "interval": interval, "requests": requests,
            "elapsed": elapsed, "requests_per_tick": requests * interval / elapsed,
            "delay_p50": percentile(delays, 50), "delay_p95": percentile(delays, 95),
            "delay_max": max(delays)}


def run(quick: bool) -> Outcome:
    """The headline comparison at the largest n, and the sweep for the plot."""
    interval = 0.25 if quick else 1.0
    sizes = (1, 10, 200) if quick else (1, 10, 100, 1000)
    note(f"interval {interval} s, prompts finish 2-8 intervals after the waits start, "
         f"{TUNES} tunes, fake in the same loop")
    results: dict[str, list[dict[str, Any]]] = {"library": [], "per-prompt": []}
    for n in sizes:
        for mode in results:
            results[mode].append(asyncio.run(scenario(n, interval, mode)))
    rows = []
    for lib, base in zip(results["library"], results["per-prompt"], strict=True):
        rows.append((lib["n"], base["requests"], lib["requests"],
                     f"{lib['requests'] / base['requests']:.3f}",
                     f"{base['requests_per_tick']:.1f}", f"{lib['requests_per_tick']:.1f}",
                     f"{lib['delay_p50'] / interval:.2f}", f"{lib['delay_p95'] / interval:.2f}",
                     f"{base['delay_p95'] / interval:.2f}"))
    table(f"Poll economy (interval {interval} s; delays in intervals)",
          ["waiters", "per-prompt req", "library req", "ratio", "per-prompt req/tick",
           "library req/tick", "lib p50", "lib p95", "per-prompt p95"], rows)
    plot(NAME, f"Requests per tick against waiters (interval {interval} s)",
         "prompts awaited at once", "requests per interval",
         {mode: ([r["n"] for r in res], [r["requests_per_tick"] for r in res])
          for mode, res in results.items()}, logx=True, logy=True)
    lib, base = results["library"][-1], results["per-prompt"][-1]
    ratio = lib["requests"] / base["requests"]
    p95 = lib["delay_p95"] / interval
    checks = [
        Check(NAME, f"requests vs per-prompt polling ({lib['n']} prompts)",
              f"{ratio:.4f} ({lib['requests']}/{base['requests']})", f"<= {RATIO_TARGET}",
              ratio <= RATIO_TARGET),
        Check(NAME, "detection delay p95 (intervals)", f"{p95:.2f}", "<= 1.0", p95 <= 1.0),
        Check(NAME, "  detection delay p50 (intervals)",
              f"{lib['delay_p50'] / interval:.2f}"),
    ]
    return Outcome(NAME, checks, {"interval": interval, "runs": results})


if __name__ == "__main__":
    bench_main(run, __doc__)
