"""The `astria` command line (`pip install astria-async[cli]`)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ._output import Output
from ._root import Group, State, setup_logging


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-key", metavar="KEY", envvar=None,
              help="API key [default: $ASTRIA_AUTH_TOKEN, then $ASTRIA_API_KEY, then the "
                   "official Astria CLI's config (see --profile)].")
@click.option("--base-url", metavar="URL",
              help="API root [default: $ASTRIA_BASE_URL, then the CLI config's, then "
                   "https://api.astria.ai].")
@click.option("-w", "--workspace", metavar="ID",
              help="Workspace sent as X-Workspace-Id; 'all' lists across workspaces "
                   "[default: $WORKSPACE_ID, then $ASTRIA_WORKSPACE_ID, then the CLI config's].")
@click.option("--profile", metavar="NAME",
              help="Profile of Astria's official CLI to read when no key is given: "
                   "$ASTRIA_CONFIG_DIR/config.NAME.json (default ~/.astria/config.json) "
                   "[default: $ASTRIA_PROFILE].")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable JSON on stdout; logs and progress on stderr.")
@click.option("--poll-interval", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="First interval of waits (it grows from there) [default: 15 s for tunes, "
                   "2 s for prompts].")
@click.option("-v", "--verbose", count=True, help="Log requests to stderr (-vv: debug).")
@click.version_option(package_name="astria-async", prog_name="astria")
@click.pass_context
def cli(ctx: click.Context, api_key: str | None, base_url: str | None, workspace: str | None,
        profile: str | None, as_json: bool, poll_interval: float | None, verbose: int) -> None:
    """Astria from the command line: tunes, prompts, downloads, batches, and an offline demo.

    \b
    Quick start:
      export ASTRIA_API_KEY=sd_...
      astria tunes create --fast --name man --title my-first-tune photos/*.jpg --wait
      astria gen TUNE_ID "ohwx man in a suit" --download out/
    Try it without an account:  astria demo
    """
    setup_logging(verbose)
    ctx.obj = State(api_key=api_key, base_url=base_url, workspace=workspace, profile=profile,
                    verbose=verbose, poll_interval=poll_interval, out=Output(as_json=as_json))


def _register() -> None:
    # Command modules import only click at the top; the client, aiohttp and rich load when
    # a command runs, so `astria --help` stays fast.
    from . import account, api, batch, changes, extras, files, packs, prompts, tunes, video

    for command in (tunes.tunes, prompts.prompts, prompts.gen, files.download,
                    files.download_all, packs.packs, api.api, batch.batch, extras.demo,
                    extras.fake_server):
        cli.add_command(command)
    for command in (video.video, account.whoami, account.models, account.workspaces,
                    account.landing):
        cli.add_command(command)
    prompts.prompts.add_command(changes.update_prompt)
    packs.packs.add_command(changes.create_pack)


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `astria` script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="astria")


__all__ = ["cli", "main"]
