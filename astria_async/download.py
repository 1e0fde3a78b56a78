"""Image downloads: streamed to disk, concurrent up to a client-wide bound, atomic."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import mimetypes
import os
import random
import re
import stat
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from ._aio import Limiter, Stalled, Watchdog, run_all
from ._config import DOWNLOAD_MAX_BYTES, DOWNLOAD_READ_TIMEOUT, USER_AGENT
from ._http import Transport, frozen_headers
from .errors import AstriaError, DownloadError
from .models import Prompt

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

logger = logging.getLogger("astria_async")

CHUNK = 256 * 1024
# Astria's image URLs have no extension (API notes §4): the type comes from Content-Type.
EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/webp": ".webp",
    "image/gif": ".gif", "image/avif": ".avif", "image/heic": ".heic", "image/tiff": ".tiff",
    "video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
    "application/octet-stream": ".bin",
}
# Only images and videos are saved: an HTML error page, a JSON document (the prompt's `url`,
# API notes §11), a script or an SVG (XML that can carry scripts) never is.
_NOT_IMAGES = frozenset({"image/svg+xml"})
# Only a User-Agent: the API key must never reach an image host.
_HEADERS = frozen_headers({"User-Agent": USER_AGENT, "Accept": "image/*,video/*;q=0.9"})
# Folders whose listing a Downloader remembers (least recently used ones are listed again).
_FOLDERS = 256
# A folder with at most this many entries is listed on the loop (one readdir, tens of µs):
# a thread, and every prompt waiting on it, cost more (issue #16). A bigger one goes to a
# thread, whatever its size.
_SMALL = 64
# `{tune}-{prompt}-{index}.{ext}` and its temp files `.{tune}-{prompt}-{index}.{random}.part`.
_OURS = re.compile(r"(\.?)(\d+-\d+-\d+)(\..*)")


def extension(content_type: str | None) -> str:
    """The file extension for a Content-Type (`.bin` when unknown)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def is_media(content_type: str | None) -> bool:
    """True for `image/*` (but SVG) and `video/*`: the only types a download saves."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime.startswith("video/") or (mime.startswith("image/") and mime not in _NOT_IMAGES)


# Content-Type as sent -> the extension to save it with, or None: not an image or a video.
# A host sends the same few values, so a lookup replaces two parses a file (issue #16).
_SAVED_AS: dict[str, str | None] = {}


def _saved_as(content_type: str) -> str | None:
    """The extension a body of `content_type` is saved with; None when it is not saved."""
    try:
        return _SAVED_AS[content_type]
    except KeyError:
        pass
    if len(_SAVED_AS) >= 256:  # a host that varies it (parameters): forget, never grow
        _SAVED_AS.clear()
    ext = _SAVED_AS[content_type] = extension(content_type) if is_media(content_type) else None
    return ext


def _length(value: str | None) -> int | None:
    """A Content-Length header as an int (None when absent or not a number)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


if os.access in os.supports_follow_symlinks:
    def _absent(path: str) -> bool:
        """True when nothing (not even a dangling link) has that name.

        faccessat(2) answers False without an exception: a missing name, the usual case
        before a download, costs ~0.7 µs less than an lstat that raises (issue #16).
        """
        return not os.access(path, os.F_OK, follow_symlinks=False)
else:  # pragma: no cover - platforms without faccessat (Windows)
    def _absent(path: str) -> bool:
        return not os.path.lexists(path)


def _not_a_link(path: str, url: str) -> None:
    """Refuse a symlink at a file's final name: it would be taken for (or replace) our file."""
    if not _absent(path) and os.path.islink(path):
        raise DownloadError(f"{path} is a symbolic link; refusing to save {url} there "
                            "(remove the link to download it)", url=url)


def _image_urls(prompt: Prompt) -> list[str]:
    # The images to fetch (not the prompt's own page); a function, not a comprehension in
    # `Downloader.prompt`: see `Downloader._jobs`.
    return [url for url in prompt.images if url != prompt.url]


def _stem_base(prompt: Prompt) -> str:
    tunes = prompt.referenced_tune_ids  # parsed from the text: once per prompt, not per image
    tune = tunes[0] if tunes else 0
    return f"{tune}-{prompt.id}-"


class _Folder:
    """What a Downloader knows of a folder from one listing, kept up to date by its saves.

    `extensions` are those of the complete files (`{name}{ext}`) seen there: whether `name`
    is complete then takes one stat per extension (usually one) instead of a listing of the
    whole folder per file. `stale` holds the temp files seen by the listing, by name: left by
    a process killed mid-download (or renamed since by a download here), removed before that
    name is downloaded again.
    """

    # A plain class, not a dataclass: `dataclasses` is ~0.6 ms of a client's import.
    __slots__ = ("extensions", "stale")

    def __init__(self) -> None:
        self.extensions: list[str] = []
        self.stale: dict[str, list[str]] = {}

    @classmethod
    def scan(cls, folder: str) -> _Folder:
        """One listing of `folder` (in a thread: it takes as long as the folder is big).

        A folder that cannot be listed counts as empty, as with glob: writing into it then
        fails with a DownloadError.
        """
        return cls._list(folder, None)[0]

    @classmethod
    def small(cls, folder: str) -> _Folder | None:
        """The listing of `folder` if it has at most `_SMALL` entries (cheap on the loop)."""
        known, whole = cls._list(folder, _SMALL)
        return known if whole else None

    @classmethod
    def _list(cls, folder: str, limit: int | None) -> tuple[_Folder, bool]:
        """What `folder` holds of ours, and False if it had more than `limit` entries."""
        known = cls()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for seen, entry in enumerate(entries):
                if limit is not None and seen >= limit:
                    return known, False
                ours = _OURS.fullmatch(entry.name)
                if ours is None:
                    continue
                hidden, name, rest = ours.groups()
                if not hidden:
                    known.learn(rest)
                elif rest.endswith(".part"):
                    known.stale.setdefault(name, []).append(entry.path)
        return known, True

    def learn(self, extension: str) -> None:
        if extension not in self.extensions:
            self.extensions.append(extension)

    def complete(self, folder: str, name: str, url: str) -> Path | None:
        """The complete file of `name` in `folder` (a path ending in a separator), if any (a
        few stats: cheap enough for the loop).

        Raises:
            DownloadError: a symlink is there: it is not a file this library wrote.
        """
        for ext in self.extensions:
            path = folder + name + ext
            if _absent(path):
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                _not_a_link(path, url)
            if stat.S_ISREG(mode):
                return Path(path)
        return None


class Downloader:
    """Downloads through the client's session, without its API headers.

    Every file is written to a hidden temporary file in the target directory and renamed
    when complete, so a file with its final name is always complete, even when the process
    dies mid-download. With `durable=True` each file (and then its directory entry) is also
    fsync'd, so it survives a power loss or a kernel crash too; that costs a disk flush
    per file and is off by default.

    Complete files are skipped. A folder is listed once (on the loop when it holds at most
    64 entries, else in a thread), then each file is checked with a stat of the extensions
    seen there; a complete file with another extension written by another process
    meanwhile is fetched again and replaced (atomically).
    """

    def __init__(self, transport: Transport, concurrency: int, *, durable: bool = False,
                 max_bytes: int = DOWNLOAD_MAX_BYTES) -> None:
        if concurrency < 1:
            raise ValueError(f"download_concurrency must be >= 1, got {concurrency!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"download_max_bytes must be a positive int, got {max_bytes!r}")
        self._transport = transport
        self._concurrency = concurrency
        self._durable = durable
        self._max_bytes = max_bytes
        self._limit: Limiter | None = None
        # Paths as str inside (pathlib objects cost microseconds each, several per file); a
        # folder as a prefix ending in a separator, joined to a name by `+` (not os.path.join,
        # a Python function, three per file).

        # The files being saved, each with its line of callers: None while only its first
        # caller has it (the usual case costs a dict entry), a Limiter of no slots once
        # others wait for it.
        self._busy: dict[str, Limiter | None] = {}
        self._folders: OrderedDict[str, asyncio.Future[_Folder]] = OrderedDict()
        # Directory as given -> (resolved path, st_dev, st_ino): see _resolve.
        self._resolved: dict[str, tuple[str, int, int]] = {}
        # Notices stalled transfers; made on the first download, like the limit (the read
        # timeout is the module's `DOWNLOAD_READ_TIMEOUT` then: tests shorten it).
        self._watchdog: Watchdog | None = None

    async def prompt(self, prompt: Prompt, directory: str | os.PathLike[str]) -> list[Path]:
        """Save every image of `prompt` into `directory`; skip files already complete.

        Returns:
            The absolute paths, in the order of `prompt.images`.

        Raises:
            DownloadError: an image could not be fetched or written; files completed before
                stay, no partial file is left, and a re-run fetches only what is missing.
        """
        if not prompt.images:
            state = f"failed: {prompt.user_error}" if prompt.is_failed else "has no images yet"
            raise DownloadError(f"prompt {prompt.id} {state}; nothing to download "
                                "(wait with wait_images() first)")
        urls = _image_urls(prompt)
        try:
            folder, known = await self._folder(directory)
        except OSError as exc:  # e.g. a file (an earlier, incomplete download) has that name
            url = urls[0] if urls else prompt.images[0]
            raise DownloadError(f"cannot save {url} (prompt {prompt.id}) into "
                                f"{os.fspath(directory)!r}: {exc.strerror or exc}",
                                url=url) from exc
        base = _stem_base(prompt)
        if len(urls) == 1:  # no task for a single image
            return [await self._one(urls[0], folder, f"{base}0", known)]
        return await run_all(self._jobs(urls, folder, base, known))

    def _jobs(self, urls: list[str], folder: str, base: str, known: _Folder
              ) -> list[Coroutine[Any, Any, Path]]:
        # Built here, not in `prompt`: before Python 3.12 a comprehension is a function of its
        # own, and every local of `prompt` it reads would become a cell, a GC-tracked object
        # kept for as long as the download runs (five per prompt in flight).
        return [self._one(url, folder, f"{base}{i}", known) for i, url in enumerate(urls)]

    async def _folder(self, directory: str | os.PathLike[str]) -> tuple[str, _Folder]:
        # The folder (a prefix, see `_resolve`) and what it holds. The listing is done once per
        # folder (in a thread when it is big) and shared by the prompts asking for it.
        folder = self._resolve(directory)
        listing = self._folders.get(folder)
        if listing is None:
            small = _Folder.small(folder)
            if small is not None:  # listed already: no thread, no prompt waits on it
                listing = asyncio.get_running_loop().create_future()
                listing.set_result(small)
            else:
                listing = asyncio.ensure_future(asyncio.to_thread(_Folder.scan, folder))
                listing.add_done_callback(self._forget_failed(folder))
            self._folders[folder] = listing
            while len(self._folders) > _FOLDERS:
                self._folders.popitem(last=False)
        else:
            self._folders.move_to_end(folder)
        if listing.done():
            return folder, listing.result()
        return folder, await asyncio.shield(listing)

    def _resolve(self, directory: str | os.PathLike[str]) -> str:
        """`directory` created if missing, as an absolute path with symlinks resolved and a
        trailing separator.

        On the loop: a few syscalls, cheaper than a thread hop. The path resolved last time
        is reused while `directory` still names the same directory (one stat instead of a
        mkdir and an lstat per component of the path, for every prompt); a folder removed,
        moved or replaced (by a link elsewhere too) since, or a relative path after a chdir,
        is resolved again. Only a link that leads to the same directory, put in place of it or
        of one of its parents meanwhile, is not looked for: the files still go where
        `directory` points.
        """
        given = os.fspath(directory)
        known = self._resolved.get(given)
        if known is not None:
            folder, device, inode = known
            try:
                now = os.stat(given)
            except OSError:
                pass
            else:
                if now.st_ino == inode and now.st_dev == device and stat.S_ISDIR(now.st_mode):
                    return folder
        folder = _ready(given)
        found = os.stat(folder)
        if not folder.endswith(os.sep):
            folder += os.sep
        if len(self._resolved) >= _FOLDERS:
            self._resolved.clear()  # rare (many folders): each is resolved again once
        self._resolved[given] = (folder, found.st_dev, found.st_ino)
        return folder

    def _forget_failed(self, folder: str) -> Callable[[asyncio.Future[_Folder]], None]:
        def forget(listing: asyncio.Future[_Folder]) -> None:
            failed = listing.cancelled() or listing.exception() is not None
            if failed and self._folders.get(folder) is listing:
                del self._folders[folder]  # listed again by the next prompt
        return forget

    async def _one(self, url: str, folder: str, name: str, known: _Folder) -> Path:
        # The same file twice at once: the second caller waits its turn, then finds it complete.
        key = folder + name
        if key in self._busy:
            await self._turn(key)
        else:
            self._busy[key] = None
        try:
            done = known.complete(folder, name, url)
            if done is not None:
                logger.debug("download: %s already complete", done.name)
                return done
            for stale in known.stale.pop(name, ()):
                with contextlib.suppress(OSError):
                    os.unlink(stale)
            if self._limit is None:
                self._limit = Limiter(self._concurrency)
            async with self._limit:
                done = await self._fetch(url, folder, name)
            known.learn(done.name[len(name):])
            return done
        finally:
            self._pass_turn(key)

    async def _turn(self, key: str) -> None:
        """Wait in line for the file `key`, which another caller is saving."""
        line = self._busy[key]
        if line is None:
            line = self._busy[key] = Limiter(0)
        try:
            await line.take()
        except BaseException:
            # Cancelled in line (a turn it was handed, `take` passed on): the file is
            # forgotten if nobody holds it or waits for it any more.
            self._forget_idle(key, line)
            raise

    def _pass_turn(self, key: str) -> None:
        """Done with the file `key`: the next caller in line has it, or it is forgotten."""
        line = self._busy[key]
        if line is None:
            del self._busy[key]
        else:
            line.give()
            self._forget_idle(key, line)

    def _forget_idle(self, key: str, line: Limiter) -> None:
        # A free slot means nobody holds the file and nobody waits for it (see Limiter).
        if line.free and self._busy.get(key) is line:
            del self._busy[key]

    async def _fetch(self, url: str, folder: str, name: str) -> Path:
        if url.partition(":")[0].lower() not in ("http", "https"):
            raise DownloadError(f"not an http(s) image URL: {url!r}", url=url)
        tmp: str | None = None
        # A minute without data (the answer's head, then its body) fails the download.
        if self._watchdog is None:
            self._watchdog = Watchdog(DOWNLOAD_READ_TIMEOUT)
        watch = self._watchdog.watch()
        try:
            async with watch, self._transport.stream(url, _HEADERS) as resp:
                content = resp.content
                watch.follow(lambda: content.total_bytes)
                if resp.status >= 400:
                    raise DownloadError(f"GET {url} answered HTTP {resp.status}", url=url)
                ctype = resp.headers.get("Content-Type", "")
                ext = _saved_as(ctype)
                if ext is None:
                    raise DownloadError(f"GET {url} returned {ctype or 'no Content-Type'!r}, "
                                        "not an image or a video; nothing was saved", url=url)
                expected = _length(resp.headers.get("Content-Length"))
                if expected is not None and expected > self._max_bytes:
                    raise self._too_big(url, f"its Content-Length is {expected}")
                filename = name + ext
                final = folder + filename
                # Created on the loop: one open(2), where a thread hop per file cost more
                # than it saved (issue #16: ~0.5 ms a file).
                fd, tmp = _open_temp(folder, name)
                size = 0
                try:
                    # Written on the loop: a write of <= CHUNK bytes lands in the page cache
                    # and returns in microseconds, where a thread hop per chunk halved the
                    # throughput. Only fsync waits for the disk; it runs in a thread.
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        size += len(chunk)
                        if size > self._max_bytes:
                            raise self._too_big(url, f"it sent more than {size - len(chunk)}")
                        _write_all(fd, chunk)
                    if not size:
                        raise DownloadError(f"GET {url} returned an empty body; nothing was "
                                            "saved", url=url)
                    if expected is not None and size != expected:
                        raise DownloadError(f"GET {url} ended after {size} of its {expected} "
                                            "bytes (Content-Length); nothing was saved", url=url)
                    if self._durable:
                        await asyncio.to_thread(os.fsync, fd)
                finally:
                    os.close(fd)
                # One rename, inline too: a thread still renaming after a cancellation would
                # leave a final file behind the caller's back. A link at the final name (there
                # before, or planted meanwhile) is refused rather than silently replaced; one
                # check, here, is enough: nothing is written through the final name before.
                _not_a_link(final, url)
                os.replace(tmp, final)
                tmp = None
                if self._durable:
                    await asyncio.to_thread(_sync_dir, folder)
            logger.debug("download: saved %s", filename)
            return Path(final)
        except DownloadError:
            raise
        except Stalled:
            raise DownloadError(f"GET {url} sent no data for {watch.limit:g} s; nothing was "
                                "saved", url=url) from None
        except (AstriaError, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, AstriaError) and exc.__cause__ else exc
            raise DownloadError(f"downloading {url} failed: {type(cause).__name__}: {cause}",
                                url=url) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _too_big(self, url: str, what: str) -> DownloadError:
        return DownloadError(
            f"GET {url} is larger than the download cap of {self._max_bytes} bytes ({what}); "
            "nothing was saved (raise the cap with AstriaClient(download_max_bytes=...))",
            url=url)


def _ready(directory: str) -> str:
    """`mkdir -p`, then the absolute path with symlinks resolved."""
    try:
        os.mkdir(directory)
    except FileExistsError:
        if not os.path.isdir(directory):
            raise
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
    return os.path.realpath(directory)


# The temp file is created by one open(2): O_EXCL makes a name someone else made (or a link
# planted there) an error rather than a file to write through, and mode 0o666 lets the umask
# give it the mode any file the user creates gets (0644 under the usual umask), so a web
# server can serve the image (tempfile.mkstemp makes 0600 files, then a chmod was needed).
_TEMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _open_temp(folder: str, name: str) -> tuple[int, str]:
    # In `folder` (a path ending in a separator), the final file's directory, so os.replace
    # is an atomic rename; the leading dot keeps it out of the names `_Folder.scan` takes for
    # complete files.
    for _ in range(100):
        path = f"{folder}.{name}.{random.getrandbits(48):012x}.part"
        try:
            fd = os.open(path, _TEMP_FLAGS, 0o666)
        except FileExistsError:  # a name already taken: draw another, as mkstemp does
            continue
        # The descriptor itself, not a file object: open() on it costs three more system
        # calls a file (fstat, an isatty ioctl, lseek) and two objects (issue #16).
        return fd, path
    raise FileExistsError(f"no free temporary file name for {name} in {folder}")


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (a file, with no buffer of its own between)."""
    done = os.write(fd, data)
    if done < len(data):  # rare (a signal): the rest, as a buffered file would
        view = memoryview(data)
        while done < len(data):
            wrote = os.write(fd, view[done:])
            if not wrote:  # a regular file never does this; a hang would be worse than an error
                raise OSError(errno.EIO, "the file took no more bytes")
            done += wrote


def _sync_dir(folder: str) -> None:
    # The rename is durable once the directory is (not possible on Windows: skipped).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
