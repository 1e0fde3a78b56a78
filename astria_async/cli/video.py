"""`astria video`: a video prompt, with the flags of Astria's official CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._root import json_option
from ._targets import TUNE_REF, media, ordered_media


@click.command(short_help="Create a video (first/last frames, references, audio).")
@click.option("--video-model", required=True, metavar="MODEL",
              help="The video model (see `astria models`), e.g. seedance2_pro, kling...")
@click.option("--video-prompt", metavar="TEXT", help="What happens in the video.")
@click.option("--text", metavar="TEXT",
              help="Text of the first frame's image (not needed with --first-frame).")
@click.option("--model", "tune_id", default="gemini", show_default=True, **TUNE_REF,
              help="Model (or tune id) of the image stage.")
@click.option("--duration", "video_duration", type=click.IntRange(1), metavar="SECONDS")
@click.option("--aspect-ratio", help="16:9, 9:16, 1:1...")
@click.option("--resolution", type=click.Choice(["1K", "2K", "4K"]))
@click.option("-n", "--num-images", type=int)
@click.option("--seed", type=int)
@click.option("--first-frame", metavar="FILE|URL", help="The video's first frame.")
@click.option("--last-frame", metavar="FILE|URL", help="The video's last frame.")
@click.option("--input-video", metavar="FILE|URL", help="Motion source (motion-control models).")
@click.option("--audio-reference", metavar="FILE|URL", help="Audio to follow.")
@click.option("--image-reference", "image_references", multiple=True, metavar="FILE|URL",
              help="Reference image, in order (repeatable; all files or all URLs).")
@click.option("--reference", "references", multiple=True, metavar="NAME=PATH_OR_URL",
              help="Create a FaceID reference of NAME and put <faceid:ID:1> NAME in the texts.")
@click.option("--generate-audio/--no-generate-audio", "video_audio", default=None,
              help="Generate a soundtrack (sent as video_audio).")
@click.option("--callback", metavar="URL", help="Called by Astria when done.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Any other prompt parameter (values parsed as JSON when they can be).")
@click.option("--wait", is_flag=True, help="Wait for the video.")
@click.option("-o", "--download", type=click.Path(file_okay=False, path_type=Path),
              help="Wait, then download the video into this folder.")
@click.option("--timeout", type=float, help="Seconds a wait may take.")
@json_option
@click.pass_context
def video(ctx: click.Context, /, tune_id: int | str, text: str | None, first_frame: str | None,
          last_frame: str | None, input_video: str | None, audio_reference: str | None,
          image_references: tuple[str, ...], params: tuple[str, ...], wait: bool,
          download: Path | None, timeout: float | None, **options: Any) -> None:
    """Create a video prompt: the image stage renders the first frame from --text (or takes
    --first-frame), then --video-model animates it following --video-prompt."""
    from .prompts import create_and_wait

    options.update(media("video_first_frame", first_frame))
    options.update(media("video_last_frame", last_frame))
    options.update(media("input_video", input_video))
    options.update(media("audio_reference", audio_reference))
    options.update(ordered_media("image_references", image_references))
    create_and_wait(ctx, tune_id, text, wait, download, timeout, params, None, options)
