"""Run a FakeAstria until cancelled (``python -m astria_async.testing``, ``astria fake-server``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._clock import FakeClock
from ._fake import FakeAstria


def _announce(fake: FakeAstria) -> None:
    print(f"FakeAstria listening on {fake.url}", flush=True)
    print(f"ASTRIA_BASE_URL={fake.url}", flush=True)
    print(f"ASTRIA_API_KEY={fake.api_key}", flush=True)


async def serve(
    port: int = 0,
    *,
    api_key: str | None = None,
    train_seconds: float = 20.0,
    fast_train_seconds: float = 2.0,
    prompt_seconds: float = 4.0,
    time_scale: float = 1.0,
    image_bytes: int = 8192,
    idempotent: bool = False,
    workspaces: Sequence[int] = (),
    log: str | Path | None = None,
    on_ready: Callable[[FakeAstria], None] = _announce,
) -> None:
    """Serve on 127.0.0.1:``port`` in real (optionally scaled) time until cancelled.

    ``workspaces`` exist from the start; ``log`` gets one JSON line per request.
    """
    fake = FakeAstria(
        port=port, api_key=api_key, clock=FakeClock(time_scale=time_scale),
        train_seconds=train_seconds, fast_train_seconds=fast_train_seconds,
        prompt_seconds=prompt_seconds, image_bytes=image_bytes, idempotent=idempotent,
        workspaces=workspaces, request_log=log,
    )
    async with fake:
        on_ready(fake)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: parse options, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m astria_async.testing",
                                     description="Serve a fake Astria API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--api-key", default=None, help="accepted Bearer key (default: random)")
    parser.add_argument("--train-seconds", type=float, default=20.0)
    parser.add_argument("--fast-train-seconds", type=float, default=2.0)
    parser.add_argument("--prompt-seconds", type=float, default=4.0)
    parser.add_argument("--time-scale", type=float, default=1.0, help="clock speed-up factor")
    parser.add_argument("--image-bytes", type=int, default=8192, help="size of result PNGs")
    parser.add_argument("--idempotent", action="store_true", help="account idempotency on")
    parser.add_argument("--workspace", type=int, action="append", default=[], metavar="ID",
                        help="a workspace that exists from the start (repeatable)")
    parser.add_argument("--log", metavar="FILE", help="append each request as a JSON line")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(
            args.port, api_key=args.api_key, train_seconds=args.train_seconds,
            fast_train_seconds=args.fast_train_seconds, prompt_seconds=args.prompt_seconds,
            time_scale=args.time_scale, image_bytes=args.image_bytes, idempotent=args.idempotent,
            workspaces=args.workspace, log=args.log,
        ))
    except KeyboardInterrupt:
        print("FakeAstria stopped", file=sys.stderr)
    return 0
