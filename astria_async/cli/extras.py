"""`astria demo` and `astria fake-server`: everything that runs without an Astria account."""

from __future__ import annotations

from pathlib import Path

import click

from ._root import json_option, state


@click.command(short_help="Offline demo against a built-in fake Astria.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("astria-demo"), show_default=True, help="Folder for the images.")
@click.option("--prompts", "count", type=click.IntRange(1, 8), default=3, show_default=True,
              help="How many prompts to run.")
@json_option
@click.pass_context
def demo(ctx: click.Context, out: Path, count: int) -> None:
    """Offline demo: a fake Astria, a free tune, prompts, waits, downloads (no key needed)."""
    from ..demo import run

    st = state(ctx)
    result = run(out, prompts=count, log=st.out.log)
    st.out.result(result.to_dict(), text=result.describe())


@click.command("fake-server", short_help="Serve the fake Astria API on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--api-key", "fake_key", help="The Bearer key it accepts [default: random].")
@click.option("--train-seconds", type=float, default=20.0, show_default=True)
@click.option("--fast-train-seconds", type=float, default=2.0, show_default=True)
@click.option("--prompt-seconds", type=float, default=4.0, show_default=True)
@click.option("--time-scale", type=float, default=1.0, show_default=True,
              help="Clock speed-up factor.")
@click.option("--idempotent", is_flag=True, help="Behave as if account idempotency is on.")
@click.option("--workspace", "workspaces", type=int, multiple=True, metavar="ID",
              help="A workspace that exists from the start (repeatable); other ids answer 404.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Append every request to FILE as one JSON line.")
def fake_server(port: int, fake_key: str | None, train_seconds: float,
                fast_train_seconds: float, prompt_seconds: float, time_scale: float,
                idempotent: bool, workspaces: tuple[int, ...], log_file: Path | None) -> None:
    """Serve the fake Astria API on 127.0.0.1 until Ctrl-C (prints its URL and key).

    Tests in any language can read its request log at GET /_fake/requests and arm
    faults with POST /_fake/faults (both need the key).
    """
    import asyncio

    from ..testing import serve

    try:
        asyncio.run(serve(port, api_key=fake_key, train_seconds=train_seconds,
                          fast_train_seconds=fast_train_seconds, prompt_seconds=prompt_seconds,
                          time_scale=time_scale, idempotent=idempotent, workspaces=workspaces,
                          log=log_file))
    except KeyboardInterrupt:
        click.echo("fake server stopped", err=True)
