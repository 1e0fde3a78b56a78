"""Poll economy: many prompts awaited at once, library waits vs polling loops.

Prompts on 10 tunes finish spread over [2, 8) intervals after the waits start. The library
runs one `client.prompts.wait_images` per prompt (all at once, coalesced by its board). Two
baselines: one loop per prompt (`GET /prompts/:id`, sleep one interval, until finished), and
the official CLI's loop (`astria prompts wait`: each round GETs every pending id once, 6 at a
time, then sleeps what is left of the interval — 5 s in the CLI; one interval here). All use
a fixed interval (multiplier 1, no jitter) so they poll at the same pace. Requests come from
the fake's log; the detection delay is the time from the fake marking a prompt finished
(`trained_at`) to its waiter returning.

"Old account": the same waits while 20,000 newer prompts of another tune exist (created
after the watched ones), and "interleaved": the watched prompts spread among them (the
account-wide list is diluted; each tune's own list is not, for checkpoint tunes: a LoRA's
prompts all run on the shared base model, so its tune list is the account's again).
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
OLD_TARGET = 0.2  # requests ÷ the official CLI's loop with 20,000 newer prompts (issue #16)
TUNES = 10
CLI_PARALLEL = 6
MODES = ("library", "per-prompt", "official-cli")


def finished_at(fake: Any, prompt_id: int) -> float:
    """The fake's finish time of a prompt (epoch seconds on the fake's clock)."""
    stamp = fake.prompt(prompt_id)["trained_at"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def follow_real_time(clock: FakeClock, step: float = 0.005) -> None:
    """Advance a manual fake clock with real time (until cancelled)."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(step)
        now = loop.time()
        clock.advance(now - last)
        last = now


async def official_cli(client: AstriaClient, ids: list[int], interval: float,
                       timed: Callable[[int], None]) -> None:
    """`astria prompts wait`: rounds over every pending id, 6 at a time, paced by the interval."""
    pending = list(ids)
    loop = asyncio.get_running_loop()

    async def worker(queue: list[int], done: list[int]) -> None:
        while queue:
            pid = queue.pop()
            if (await client.prompts.get(pid)).is_finished:
                timed(pid)
                done.append(pid)

    while pending:
        began = loop.time()
        queue, done = list(pending), list[int]()
        await asyncio.gather(*(worker(queue, done)
                               for _ in range(min(CLI_PARALLEL, len(pending)))))
        finished = set(done)
        pending = [pid for pid in pending if pid not in finished]
        if pending:
            await asyncio.sleep(max(0.0, interval - (loop.time() - began)))


async def scenario(n: int, interval: float, mode: str, newer: int = 0,
                   interleaved: bool = False) -> dict[str, Any]:
    """`n` prompts waited on by the library or a baseline loop (`mode`, one of MODES).

    `newer` prompts of another tune exist besides: created after the watched ones, or with
    the watched ones spread evenly among them when `interleaved`.
    """
    spread, lead = 6 * interval, 2 * interval
    # The fake's clock stands still while seeding (20,000 prompts take a second or more, which
    # would otherwise count as detection delay) and follows real time once the waits start.
    async with local_fake(clock=FakeClock.manual(), prompt_seconds=spread + lead) as fake:
        # Interleaved: checkpoint tunes, whose prompts each tune's own list shows (a LoRA's
        # prompts run on the shared base model, whose list is the whole account's again).
        kind = {"branch": "sd15"} if interleaved else {}
        tunes = [fake.add_tune(title=f"bench-{i}", **kind)["id"] for i in range(TUNES)]
        busy = fake.add_tune(title="busy", **kind)["id"]
        ids = []
        every = max(1, newer // n) if interleaved else 0
        made = 0
        for i in range(n):  # prompt i finishes at lead + i * spread / n from the end of seeding
            for _ in range(every):
                fake.add_prompt(busy, "other", seed=made)
                made += 1
            ids.append(fake.add_prompt(tunes[i % TUNES], f"ohwx man, photo {i}", seed=i)["id"])
            fake.clock.advance(spread / n)
        for _ in range(newer - made):
            fake.add_prompt(busy, "other", seed=made)
            made += 1
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

            def detected(pid: int) -> None:
                delays.append(fake.clock.now() - finished_at(fake, pid))

            async def timed(pid: int) -> None:
                await wait(pid)
                detected(pid)

            loop = asyncio.get_running_loop()
            fake.clear_log()
            started = loop.time()
            follow = asyncio.ensure_future(follow_real_time(fake.clock))
            try:
                if mode == "official-cli":
                    await official_cli(client, ids, interval, detected)
                else:
                    await asyncio.gather(*(timed(pid) for pid in ids))
            finally:
                follow.cancel()
            elapsed = loop.time() - started
        requests = len(fake.requests)
    return {"n": n, "mode": mode, "interval": interval, "newer": newer,
            "interleaved": interleaved, "requests": requests,
            "elapsed": elapsed, "requests_per_tick": requests * interval / elapsed,
            "delay_p50": percentile(delays, 50), "delay_p95": percentile(delays, 95),
            "delay_max": max(delays)}


def old_account(quick: bool, interval: float) -> tuple[list[Check], list[dict[str, Any]]]:
    """The library against the official CLI's loop with 20,000 newer prompts in the account."""
    newer = 2_000 if quick else 20_000
    sizes = (100,) if quick else (100, 1000)
    checks: list[Check] = []
    rows, runs = [], []
    for interleaved in (False, True):
        for n in sizes:
            lib = asyncio.run(scenario(n, interval, "library", newer, interleaved))
            cli = asyncio.run(scenario(n, interval, "official-cli", newer, interleaved))
            runs += [lib, cli]
            ratio = lib["requests"] / cli["requests"]
            where = "interleaved" if interleaved else "newer"
            rows.append((where, n, cli["requests"], lib["requests"], f"{ratio:.3f}",
                         f"{lib['delay_p50'] / interval:.2f}", f"{lib['delay_p95'] / interval:.2f}",
                         f"{cli['delay_p95'] / interval:.2f}"))
            checks.append(Check(NAME, f"old account ({newer:,} {where}), {n} watched: "
                                f"requests vs official CLI", f"{ratio:.3f}",
                                f"<= {OLD_TARGET}", ratio <= OLD_TARGET))
            p95 = lib["delay_p95"] / interval
            checks.append(Check(NAME, f"  old account ({where}), {n} watched: delay p95 "
                                "(intervals)", f"{p95:.2f}", "<= 1.0", p95 <= 1.0))
    table(f"Old account: {newer:,} other prompts (interval {interval} s; delays in intervals)",
          ["other prompts", "waiters", "official-cli req", "library req", "ratio", "lib p50",
           "lib p95", "cli p95"], rows)
    return checks, runs


def run(quick: bool) -> Outcome:
    """The headline comparison at the largest n, the sweep for the plot, the old account."""
    interval = 0.25 if quick else 1.0
    sizes = (1, 10, 200) if quick else (1, 10, 100, 1000)
    note(f"interval {interval} s (stands for the CLI's 5 s), prompts finish 2-8 intervals "
         f"after the waits start, {TUNES} tunes, fake in the same loop")
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for n in sizes:
        for mode in results:
            results[mode].append(asyncio.run(scenario(n, interval, mode)))
    rows = []
    for lib, base, cli in zip(results["library"], results["per-prompt"],
                              results["official-cli"], strict=True):
        rows.append((lib["n"], base["requests"], cli["requests"], lib["requests"],
                     f"{lib['requests'] / base['requests']:.3f}",
                     f"{lib['requests'] / cli['requests']:.3f}",
                     f"{lib['requests_per_tick']:.1f}",
                     f"{lib['delay_p50'] / interval:.2f}", f"{lib['delay_p95'] / interval:.2f}",
                     f"{cli['delay_p95'] / interval:.2f}"))
    table(f"Poll economy (interval {interval} s; delays in intervals)",
          ["waiters", "per-prompt req", "official-cli req", "library req", "ratio per-prompt",
           "ratio cli", "library req/tick", "lib p50", "lib p95", "cli p95"], rows)
    plot(NAME, f"Requests per tick against waiters (interval {interval} s)",
         "prompts awaited at once", "requests per interval",
         {mode: ([r["n"] for r in res], [r["requests_per_tick"] for r in res])
          for mode, res in results.items()}, logx=True, logy=True)
    lib, base = results["library"][-1], results["per-prompt"][-1]
    cli = results["official-cli"][-1]
    ratio = lib["requests"] / base["requests"]
    p95 = lib["delay_p95"] / interval
    checks = [
        Check(NAME, f"requests vs per-prompt polling ({lib['n']} prompts)",
              f"{ratio:.4f} ({lib['requests']}/{base['requests']})", f"<= {RATIO_TARGET}",
              ratio <= RATIO_TARGET),
        Check(NAME, f"requests vs official CLI loop ({lib['n']} prompts)",
              f"{lib['requests'] / cli['requests']:.4f} ({lib['requests']}/{cli['requests']})",
              f"<= {RATIO_TARGET}", lib["requests"] / cli["requests"] <= RATIO_TARGET),
        Check(NAME, "detection delay p95 (intervals)", f"{p95:.2f}", "<= 1.0", p95 <= 1.0),
        Check(NAME, "  detection delay p50 (intervals)",
              f"{lib['delay_p50'] / interval:.2f}"),
    ]
    old_checks, old_runs = old_account(quick, interval)
    return Outcome(NAME, checks + old_checks,
                   {"interval": interval, "runs": results, "old_account": old_runs})


if __name__ == "__main__":
    bench_main(run, __doc__)
