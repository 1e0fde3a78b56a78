"""The offline demo: the whole flow against the bundled fake Astria, in a few seconds.

`python -m astria_async demo` (no click or rich needed) and `astria demo` both run `run()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._fields_repr import fields_repr

Log = Callable[[str], None]

# Real time, short durations: the demo shows real waits without making anyone wait long.
FAST_TRAIN_SECONDS = 1.0
PROMPT_SECONDS = 1.5
SUBJECTS = (
    "as an astronaut on the moon, cinematic light",
    "in a tailored navy suit, studio headshot",
    "hiking in the alps at sunrise, film grain",
    "as a renaissance oil painting",
    "in a cyberpunk city at night, neon reflections",
    "reading in a cosy library, warm light",
    "surfing a big wave, action shot",
    "as a watercolour sketch",
)


@attrs.frozen
class DemoResult:
    """What the demo did: the tune, the prompts and the files it wrote."""

    __repr__ = fields_repr

    out: Path
    tune_id: int
    prompt_ids: tuple[int, ...]
    files: tuple[Path, ...]
    seconds: float

    def describe(self) -> str:
        """A short human summary."""
        lines = [f"Done in {self.seconds:.1f} s: tune {self.tune_id}, "
                 f"{len(self.prompt_ids)} prompts, {len(self.files)} images in {self.out}/"]
        lines += [f"  {f}" for f in self.files]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"out": str(self.out), "tune_id": self.tune_id,
                "prompt_ids": list(self.prompt_ids), "files": [str(f) for f in self.files],
                "seconds": round(self.seconds, 2)}


async def run_async(out: Path, *, prompts: int = 3, log: Log = print) -> DemoResult:
    """Start a fake Astria, train a free tune, run prompts, wait, download."""
    from . import AstriaClient, WaitPolicy
    from .testing import FakeAstria, sample_images

    started = time.monotonic()
    # Poll briskly: the fake finishes in about a second (real Astria needs the defaults).
    tune_wait = WaitPolicy(interval=0.25, max_interval=0.5, timeout=60)
    prompt_wait = WaitPolicy(interval=0.25, max_interval=0.5, timeout=60)
    async with FakeAstria(fast_train_seconds=FAST_TRAIN_SECONDS,
                          prompt_seconds=PROMPT_SECONDS) as fake, \
            AstriaClient(fake.api_key, base_url=fake.url) as client:
        log(f"Fake Astria API listening on {fake.url} (in this process, no network)")
        images = sample_images()
        tune = await client.tunes.create(title=f"astria-demo-{int(time.time())}", name="man",
                                         images=images, branch="fast")
        log(f"Created tune {tune.id} (branch=fast, free) from {len(images)} sample images; "
            "training...")
        tune = await client.tunes.wait_trained(tune, policy=tune_wait)
        log(f"Tune {tune.id} trained")
        token = tune.token or "ohwx"
        texts = [f"{token} {tune.name or 'man'} {s}" for s in
                 (SUBJECTS * (prompts // len(SUBJECTS) + 1))[:prompts]]
        created = await asyncio.gather(*(client.prompts.create(tune.id, text=t, num_images=2)
                                         for t in texts))
        log(f"Created {len(created)} prompts at once: {', '.join(str(p.id) for p in created)}")
        files: list[Path] = []
        waits = [client.prompts.wait_images(p, policy=prompt_wait) for p in created]
        for next_done in asyncio.as_completed(waits):
            prompt = await next_done
            paths = await prompt.download(out)
            files.extend(paths)
            log(f"Prompt {prompt.id} finished: {len(paths)} images downloaded")
    return DemoResult(out=out, tune_id=tune.id, prompt_ids=tuple(p.id for p in created),
                      files=tuple(sorted(files)), seconds=time.monotonic() - started)


def run(out: str | Path = "astria-demo", *, prompts: int = 3, log: Log = print) -> DemoResult:
    """Run the demo in a fresh event loop (see `run_async`)."""
    return asyncio.run(run_async(Path(out), prompts=prompts, log=log))
