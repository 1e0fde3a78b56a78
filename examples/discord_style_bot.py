"""A Discord-style bot: one command -> one prompt -> a wait with the user's deadline -> images.

No Discord dependency: `Bot` takes commands (`imagine`, `cancel`) and posts replies through a
`post(user, text)` coroutine you wire to your chat library. Run as a script, it plays 50 users
against FakeAstria (started in-process unless ASTRIA_BASE_URL is set) and prints the chat:

    python examples/discord_style_bot.py

What it shows: per-user deadlines (`wait_images(timeout=...)` -> `WaitTimeoutError`, the
prompt keeps rendering and can be fetched later), cancellation (`/cancel` cancels the user's
task; the shared refresher and the other users' waits are untouched), fair-use refusals
turned into a message from `FairUseError` (nothing sent, nothing charged), and one refresh
per tick for all 50 waits.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from astria_async import AstriaClient, FairUsePolicy, errors

Post = Callable[[str, str], Awaitable[None]]


def fair_use_message(exc: errors.FairUseError) -> str:
    """A chat reply from a fair-use refusal, from the error's fields (nothing was charged)."""
    if exc.limit == "prompts_per_tune":
        return (f"this model has had {exc.used} of the {exc.cap} prompts Astria's fair use "
                f"allows (tune {exc.tune_id}); nothing was charged. Train a new model to go on.")
    if exc.limit == "max_images":
        return (f"at most {exc.cap} images per picture, you asked for {exc.used}; "
                "nothing was charged")
    if exc.limit in ("max_in_flight_per_tune", "max_in_flight"):
        return (f"busy: {exc.in_flight} pictures are being painted (at most {exc.cap} at once); "
                "try again in a minute; nothing was charged")
    return f"fair-use limit reached, nothing was charged: {exc}"


class Bot:
    """Commands in, replies out; at most one running prompt per user."""

    def __init__(self, client: AstriaClient, post: Post, *, deadline: float = 300.0) -> None:
        self.client = client
        self.post = post
        self.deadline = deadline
        self.jobs: dict[str, asyncio.Task[None]] = {}

    async def imagine(self, user: str, tune_id: int, text: str, *, num_images: int = 4,
                      deadline: float | None = None) -> asyncio.Task[None] | None:
        """`/imagine`: start the user's prompt; replies come through `post`."""
        if user in self.jobs:
            await self.post(user, "you already have a picture on the way; /cancel it first")
            return None
        task = asyncio.create_task(
            self._run(user, tune_id, text, num_images, deadline or self.deadline))
        self.jobs[user] = task
        task.add_done_callback(lambda _: self.jobs.pop(user, None))
        return task

    async def cancel(self, user: str) -> bool:
        """`/cancel`: stop waiting for the user's prompt (other users are unaffected)."""
        task = self.jobs.get(user)
        if task is None:
            await self.post(user, "nothing to cancel")
            return False
        task.cancel()
        return True

    async def _run(self, user: str, tune_id: int, text: str, num_images: int,
                   deadline: float) -> None:
        prompt_id: int | None = None
        try:
            prompt = await self.client.prompts.create(tune_id, text=text, num_images=num_images)
            prompt_id = prompt.id
            await self.post(user, f"painting… (prompt {prompt.id})")
            prompt = await prompt.wait_images(timeout=deadline)
            await self.post(user, "here you go: " + " ".join(prompt.images))
        except asyncio.CancelledError:
            # The prompt (if created) was charged and keeps rendering; we only stop waiting.
            await self.post(user, "cancelled" + (f" (prompt {prompt_id} was already paid for)"
                                                 if prompt_id is not None else ""))
            raise
        except errors.FairUseError as exc:
            await self.post(user, fair_use_message(exc))
        except errors.WaitTimeoutError:
            await self.post(user, f"still painting after {deadline:g} s; ask again later "
                                  f"with /result {prompt_id}")
        except errors.PromptFailedError as exc:
            await self.post(user, f"Astria could not paint that: {exc.prompt.user_error}")
        except errors.InvalidParamsError as exc:
            await self.post(user, f"that command is not valid: {exc}")
        except errors.AstriaError as exc:
            await self.post(user, f"something went wrong on Astria's side, try again: {exc}")


async def simulate(client: AstriaClient, tune_ids: list[int], *, users: int = 50,
                   short_deadline: float = 0.2, cancel_after: float = 0.3
                   ) -> dict[str, list[str]]:
    """50 users at once: most wait for their images, some have a short deadline, some
    cancel, and the last ones on each model run into the fair-use cap. Returns the chat."""
    chat: dict[str, list[str]] = {}

    async def post(user: str, text: str) -> None:
        chat.setdefault(user, []).append(text)

    bot = Bot(client, post, deadline=30)
    tasks = []
    for i in range(users):
        user = f"user{i:02d}"
        deadline = short_deadline if i % 10 == 3 else None
        task = await bot.imagine(user, tune_ids[i % len(tune_ids)], f"ohwx man, style {i}",
                                 num_images=1, deadline=deadline)
        if task is not None:
            tasks.append(task)
    await asyncio.sleep(cancel_after)
    for i in range(7, users, 10):
        await bot.cancel(f"user{i:02d}")
    await asyncio.gather(*tasks, return_exceptions=True)
    return chat


async def main() -> int:
    tunes = 5
    policy = FairUsePolicy(prompts_per_tune=8, automatic_prompts=0)  # small, to show refusals
    if os.environ.get("ASTRIA_BASE_URL"):
        async with AstriaClient(fair_use=policy) as client:
            ids = [int(x) for x in os.environ["TUNE_IDS"].split(",")]
            chat = await simulate(client, ids)
    else:
        from astria_async.testing import FakeAstria

        async with FakeAstria(prompt_seconds=1.0) as fake, \
                AstriaClient(fake.api_key, base_url=fake.url, fair_use=policy) as client:
            ids = [fake.add_tune(branch="sd15")["id"] for _ in range(tunes)]
            chat = await simulate(client, ids)
    for user, lines in sorted(chat.items()):
        for line in lines:
            print(f"{user}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
