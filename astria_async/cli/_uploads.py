"""Training images from the command line: local files (with upload progress) or URLs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from ._progress import Progress, Task

# What a folder argument picks up; each file's leading bytes are checked before the upload.
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif")


def split_images(values: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Arguments that are URLs go to image_urls, the rest must be files."""
    paths: list[Path] = []
    urls: list[str] = []
    for value in values:
        if value.lower().startswith(("http://", "https://")):
            urls.append(value)
        elif Path(value).is_file():
            paths.append(Path(value))
        elif Path(value).is_dir():
            found = sorted(p for p in Path(value).iterdir() if p.suffix.lower() in SUFFIXES)
            if not found:
                raise click.BadParameter(f"no {'/'.join(SUFFIXES)} images in {value}",
                                         param_hint="IMAGES")
            paths.extend(found)
        else:
            raise click.BadParameter(f"no such file: {value}", param_hint="IMAGES")
    if not paths and not urls:
        raise click.BadParameter("give at least one image file, folder or URL",
                                 param_hint="IMAGES")
    return paths, urls


class ProgressReader:
    """A binary file that reports the bytes read (the multipart body reads it in chunks)."""

    def __init__(self, path: Path, task: Task) -> None:
        self.name = str(path)
        self._file = path.open("rb")
        self._task = task
        self._size = path.stat().st_size

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return self._file.closed

    def read(self, size: int = -1) -> bytes:
        """Read and count."""
        data = self._file.read(size)
        note = None
        if self._file.tell() >= self._size and data:
            note = os.path.basename(self.name)
        self._task.advance(len(data), note=note)
        return data

    def tell(self) -> int:
        """Current position."""
        return self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        """Rewind for a retry; the bytes already counted are taken back."""
        before = self._file.tell()
        after = self._file.seek(offset, whence)
        self._task.advance(after - before)
        return after

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@contextlib.contextmanager
def reading(paths: Sequence[Path], progress: Progress) -> Iterator[list[Any]]:
    """Open the images with an "upload" counter in bytes; closed on exit."""
    task = progress.task("upload", sum(p.stat().st_size for p in paths), " bytes")
    files = [ProgressReader(p, task) for p in paths]
    try:
        yield files
    finally:
        for file in files:
            file.close()
