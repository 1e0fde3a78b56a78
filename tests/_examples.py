"""Start an example from `examples/` as a real server process, on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """A started example: its URL and the files its stdout and stderr go to."""

    def __init__(self, url: str, out: Path, err: Path) -> None:
        self.url = url
        self.out = out
        self.err = err

    def logs(self) -> str:
        return self.out.read_text() + self.err.read_text()


@asynccontextmanager
async def serve(example: str, tmp: Path, env: dict[str, str]) -> AsyncIterator[Running]:
    """Run `examples/<example>` until the block ends; ready once GET /healthz answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out, err = tmp / f"{example}.out", tmp / f"{example}.err"
    full = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": url,
            "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "error::ResourceWarning", **env}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "dev", str(EXAMPLES / example), env=full,
            stdout=stdout, stderr=stderr)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if proc.returncode is not None:
                    raise AssertionError(f"{example} exited:\n{err.read_text()}")
                try:
                    async with http.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{example} did not start:\n{err.read_text()}")
        yield Running(url, out, err)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:  # pragma: no cover (a hung example)
                proc.kill()
                await proc.wait()
