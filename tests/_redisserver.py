"""A real `redis-server` on a free loopback port, for the coordination tests.

The Lua scripts need the real server (fakeredis's sandbox differs). The binary comes from the
`redis-server` Debian package (`.ci/run` installs it); without it the tests are skipped.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from astria_async.testing import FakeAstria, Fault

BINARY = shutil.which("redis-server")
SKIP = pytest.mark.skipif(
    BINARY is None, reason="redis-server is not installed (apt-get install -y redis-server)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process: `url`, `kill()` (SIGKILL) and `start()` again on its data."""

    def __init__(self, folder: Path, *, appendonly: bool = True) -> None:
        self.folder = folder
        self.port = free_port()
        self.appendonly = appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert BINARY is not None
        args = [BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.folder), "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "always", "--daemonize", "no", "--logfile", "redis.log"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def serve(folder: Path, *, appendonly: bool = True) -> Iterator[RedisServer]:
    """Run a server for a fixture's lifetime."""
    server = RedisServer(folder, appendonly=appendonly)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def kill_at_random(fake: FakeAstria, server: RedisServer,
                         workers: list[asyncio.subprocess.Process],
                         spawn: Callable[[int], Awaitable[asyncio.subprocess.Process]], *,
                         seconds: float, kill_redis: bool) -> int:
    """For `seconds`, SIGKILL a random worker and start it again, while every create is
    answered 500 after its commit or 429 now and then; with `kill_redis`, SIGKILL
    redis-server once, half-way. Then, if no create has yet been answered 500 after its
    commit, keep one such fault armed until one is (or every worker has ended). Returns the
    number of workers killed."""
    rng = random.Random(15)
    kills = 0
    committed: list[Fault] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    redis_at = loop.time() + seconds / 2 if kill_redis else None
    while loop.time() < end:
        if redis_at is not None and loop.time() >= redis_at:
            # The append-only file (fsync always) keeps every write it acknowledged; workers
            # get CoordinationError until it is back.
            server.kill()
            await asyncio.sleep(0.3)
            server.start()
            redis_at = None
        committed.append(fake.fail("/tunes", status=500, method="POST", after_commit=True))
        fake.fail("/tunes", status=429, method="POST", retry_after=0.05)
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        i = rng.randrange(len(workers))
        if workers[i].returncode is None:
            workers[i].kill()  # SIGKILL: nothing is flushed, a lease is left to lapse
            kills += 1
        await workers[i].wait()
        workers[i] = await spawn(i)
    fake.clear_faults()
    # On a loaded machine the restarts can outpace the creates, so every kill may land before
    # any create was sent. The lost answer after a commit is the case under test (and the one
    # the negative control's blind re-send must turn into a duplicate): make sure it happened.
    if all(fault.remaining for fault in committed):
        last = fake.fail("/tunes", status=500, method="POST", after_commit=True)
        while last.remaining and any(w.returncode is None for w in workers):  # noqa: ASYNC110
            # (a Fault has no event to wait on: it is consumed inside the fake's handler)
            await asyncio.sleep(0.05)
        fake.clear_faults()
    return kills
