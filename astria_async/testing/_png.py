"""Tiny PNG writer (zlib + struct) for the fake's generated and mock images."""

from __future__ import annotations

import functools
import random
import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Private, ancillary, safe-to-copy chunk type: decoders skip it, so it pads a
# file to an exact size without changing the picture.
_PAD_TYPE = b"fkPd"
_CHUNK_OVERHEAD = 12


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(width: int, height: int, pixels: bytes) -> bytes:
    """Encode 8-bit RGB ``pixels`` (row-major, 3 bytes each) as a PNG file."""
    stride = width * 3
    if len(pixels) != stride * height:
        raise ValueError("pixel buffer does not match the size")
    rows = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def gradient(width: int, height: int, tint: tuple[int, int, int] = (40, 90, 160),
             centre: tuple[float, float] | None = None) -> bytes:
    """RGB pixels of a diagonal gradient with a light disc (in the middle unless ``centre``)."""
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    r2 = (min(width, height) / 3) ** 2
    out = bytearray()
    for y in range(height):
        for x in range(width):
            if (x - cx) ** 2 + (y - cy) ** 2 <= r2:
                out += bytes((230, 200, 180))
            else:
                shade = (x + y) * 255 // max(1, width + height - 2)
                red, green = (tint[0] + shade) // 2, (tint[1] + shade) // 2
                out += bytes((red, green, (tint[2] + 255 - shade) // 2))
    return bytes(out)


@functools.lru_cache(maxsize=4)
def _pad_source(nbytes: int) -> bytes:
    # Random padding so transport compression cannot shrink benchmark payloads.
    return random.Random(nbytes).randbytes(nbytes)


def _padded(base: bytes, nbytes: int) -> bytes:
    gap = nbytes - len(base)
    if gap < _CHUNK_OVERHEAD:
        return base
    pad = _pad_source(nbytes)[: gap - _CHUNK_OVERHEAD]
    return base[:-_CHUNK_OVERHEAD] + _chunk(_PAD_TYPE, pad) + base[-_CHUNK_OVERHEAD:]


@functools.lru_cache(maxsize=8)
def png_of_size(nbytes: int) -> bytes:
    """A valid 64×64 PNG padded to ``nbytes`` (exact unless below ~12 bytes over the minimum)."""
    return _padded(encode_png(64, 64, gradient(64, 64)), nbytes)


_PICTURE_BYTES = 4096  # every result picture is padded to this, so one big pad fits all


@functools.lru_cache(maxsize=1024)
def _result_picture(prompt_id: int, index: int) -> tuple[bytes, bytes]:
    """The picture itself and the same padded to exactly ``_PICTURE_BYTES``."""
    rng = random.Random(prompt_id)
    tint = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    slot = index % 9
    centre = (16.0 + 16 * (slot % 3), 16.0 + 16 * (slot // 3))
    picture = encode_png(64, 64, gradient(64, 64, tint, centre))
    return picture, _padded(picture, _PICTURE_BYTES)


@functools.lru_cache(maxsize=4)
def _big_pad(nbytes: int) -> bytes:
    """The padding chunk that takes a ``_PICTURE_BYTES`` picture to ``nbytes``."""
    return _chunk(_PAD_TYPE, _pad_source(nbytes)[: nbytes - _PICTURE_BYTES - _CHUNK_OVERHEAD])


def result_png(nbytes: int, prompt_id: int, index: int) -> bytes:
    """A prompt's ``index``-th result: its colour comes from the prompt, the disc's place
    from the index, so every picture of a run differs (same size as :func:`png_of_size`).

    Only the small pictures are cached and one padding chunk per size is shared, so
    many large results cost neither memory nor time.
    """
    picture, fixed = _result_picture(prompt_id, index)
    if nbytes < _PICTURE_BYTES + _CHUNK_OVERHEAD:
        return _padded(picture, nbytes)
    return fixed[:-_CHUNK_OVERHEAD] + _big_pad(nbytes) + fixed[-_CHUNK_OVERHEAD:]
