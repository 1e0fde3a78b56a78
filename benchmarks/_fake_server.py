"""FakeAstria in its own process, so a benchmark can measure the client's cost alone.

Prints one JSON line `{"url", "api_key", "tunes", "prompts"}` once listening on 127.0.0.1,
then answers control lines on stdin (`count METHOD PATTERN`, `cpu`, `clear`) until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from _common import local_fake, seed

from astria_async.testing import FakeClock


async def serve(args: argparse.Namespace) -> None:
    """Start, seed, announce, then serve control lines until EOF on stdin."""
    clock = FakeClock(time_scale=args.time_scale)
    async with local_fake(clock=clock, prompt_seconds=args.prompt_seconds,
                          train_seconds=args.train_seconds, image_bytes=args.image_bytes) as fake:
        tunes, prompts = seed(fake, args.tunes, args.prompts, num_images=args.num_images)
        print(json.dumps({"url": fake.url, "api_key": fake.api_key, "tunes": tunes,
                          "prompts": prompts}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            words = line.split()
            if words[0] == "count":
                answer: object = fake.count(words[1], words[2])
            elif words[0] == "cpu":  # this process's CPU seconds (the server-side floor)
                answer = time.process_time()
            elif words[0] == "clear":
                fake.clear_log()
                answer = "ok"
            else:
                answer = f"unknown command {words[0]!r}"
            print(json.dumps(answer), flush=True)


def main() -> None:
    """Parse the fake's settings and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tunes", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=0)
    parser.add_argument("--num-images", type=int, default=1)
    parser.add_argument("--prompt-seconds", type=float, default=4.0)
    parser.add_argument("--train-seconds", type=float, default=20.0)
    parser.add_argument("--image-bytes", type=int, default=8192)
    parser.add_argument("--time-scale", type=float, default=1.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
