"""Decode checks for media files: a file must be what its manifest field says it is.

Images are opened and fully decoded by Pillow (``verify()`` alone misses truncated JPEGs);
masks must be single-channel PNGs (palette ``P`` or 8-bit ``L``) whose pixel values are class
ids; depth maps must be 16-bit grayscale PNGs. Audio: PCM WAV is decoded with the stdlib
``wave`` module; FLAC gets a structural check of its header (``fLaC`` marker, a STREAMINFO
block with sample rate, channels and sample count, the metadata chain, then a frame sync
code) — a full FLAC decode would need libsndfile (``soundfile``) and numpy, a dependency this
library does not take on.
"""

from __future__ import annotations

import io
import struct
import warnings
import wave
from dataclasses import dataclass

from PIL import Image

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
MASK_MODES = ("P", "L")
DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")
# Refuse absurd sizes before decoding (Pillow's decompression-bomb guard warns at ~89 Mpx).
MAX_PIXELS = 89_478_485


class MediaDecodeError(ValueError):
    """The bytes are not a decodable file of the expected kind; the message completes
    "file 'x.png' …"."""


@dataclass(frozen=True)
class MediaInfo:
    """What decoding found: ``size`` (width, height) for images, ``None`` for audio."""

    size: tuple[int, int] | None = None
    mode: str = ""
    duration_s: float | None = None


def _open_image(data: bytes, formats: tuple[str, ...], what: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=list(formats))
            if im.width * im.height > MAX_PIXELS:
                raise MediaDecodeError(
                    f"is {im.width}x{im.height} pixels, more than the {MAX_PIXELS} allowed"
                )
            im.verify()
            # verify() leaves the image unusable and does not decode pixel data: reopen + load.
            im = Image.open(io.BytesIO(data), formats=list(formats))
            im.load()
            return im
    except MediaDecodeError:
        raise
    except Image.UnidentifiedImageError:
        allowed = "/".join(f.lower() for f in formats)
        raise MediaDecodeError(
            f"does not decode as {what} ({allowed}): not a known format"
        ) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error …
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        allowed = "/".join(f.lower() for f in formats)
        raise MediaDecodeError(f"does not decode as {what} ({allowed}): {detail}") from None


def inspect_image(data: bytes) -> MediaInfo:
    im = _open_image(data, IMAGE_FORMATS, "an image")
    return MediaInfo(size=im.size, mode=im.mode)


def inspect_mask(
    data: bytes, classes: list[str] | None = None, ignore_index: int | None = None
) -> MediaInfo:
    """A single-channel PNG whose pixel values are ids into ``classes`` (or ``ignore_index``)."""
    im = _open_image(data, ("PNG",), "a PNG mask")
    if im.mode not in MASK_MODES:
        raise MediaDecodeError(
            f"is a {im.mode} PNG; a mask must be single-channel (palette P or 8-bit L) "
            "with class ids as pixel values"
        )
    if classes is not None:
        hist = im.histogram()[:256]
        bad = [v for v, n in enumerate(hist) if n and v >= len(classes) and v != ignore_index]
        if bad:
            shown = ", ".join(str(v) for v in bad[:8]) + (", ..." if len(bad) > 8 else "")
            raise MediaDecodeError(
                f"has class ids {shown} but the card has {len(classes)} classes "
                f"(ids 0..{len(classes) - 1}; ignore_index {ignore_index})"
            )
    return MediaInfo(size=im.size, mode=im.mode)


def inspect_depth(data: bytes) -> MediaInfo:
    im = _open_image(data, ("PNG",), "a 16-bit PNG depth map")
    if im.mode not in DEPTH_MODES:
        raise MediaDecodeError(
            f"is a {im.mode} PNG; a depth map must be a 16-bit grayscale PNG (mode I;16)"
        )
    return MediaInfo(size=im.size, mode=im.mode)


def inspect_wav(data: bytes) -> MediaInfo:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate, n = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            frames = w.readframes(n)
    except (wave.Error, EOFError, struct.error, ValueError) as exc:
        raise MediaDecodeError(f"does not decode as a PCM WAV file: {exc}") from None
    if n == 0 or rate <= 0:
        raise MediaDecodeError("is a WAV file without audio frames")
    if len(frames) != n * channels * width:
        raise MediaDecodeError(
            f"is a truncated WAV file ({len(frames)} of {n * channels * width} bytes of audio)"
        )
    return MediaInfo(mode=f"wav/{channels}ch/{8 * width}bit/{rate}Hz", duration_s=n / rate)


def inspect_flac(data: bytes) -> MediaInfo:
    if not data.startswith(b"fLaC"):
        raise MediaDecodeError("does not decode as FLAC: no fLaC marker")
    pos, last, first = 4, False, True
    rate = channels = 0
    total = 0
    while not last:
        if pos + 4 > len(data):
            raise MediaDecodeError("does not decode as FLAC: metadata ends early")
        head = data[pos]
        last, btype = bool(head & 0x80), head & 0x7F
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        body = data[pos + 4 : pos + 4 + length]
        if len(body) != length:
            raise MediaDecodeError("does not decode as FLAC: metadata block truncated")
        if first:
            if btype != 0 or length != 34:
                raise MediaDecodeError("does not decode as FLAC: STREAMINFO block missing")
            bits = int.from_bytes(body[10:18], "big")
            rate = bits >> 44
            channels = ((bits >> 41) & 0x7) + 1
            total = bits & ((1 << 36) - 1)
            first = False
        elif btype == 127:
            raise MediaDecodeError("does not decode as FLAC: invalid metadata block type")
        pos += 4 + length
    if rate == 0:
        raise MediaDecodeError("does not decode as FLAC: sample rate 0")
    if pos + 2 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xFE != 0xF8:
        raise MediaDecodeError("does not decode as FLAC: no audio frame after the metadata")
    dur = total / rate if total else None
    return MediaInfo(mode=f"flac/{channels}ch/{rate}Hz", duration_s=dur)


def inspect_audio(data: bytes) -> MediaInfo:
    if data.startswith(b"fLaC"):
        return inspect_flac(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return inspect_wav(data)
    raise MediaDecodeError("is neither a WAV (RIFF/WAVE) nor a FLAC file")


def inspect_media(
    role: str,
    data: bytes,
    *,
    classes: list[str] | None = None,
    ignore_index: int | None = None,
) -> MediaInfo:
    """Decode ``data`` as the manifest field ``role`` says (image, images, mask, depth, audio);
    raise :class:`MediaDecodeError` otherwise."""
    if role in ("image", "images"):
        return inspect_image(data)
    if role == "mask":
        return inspect_mask(data, classes, ignore_index)
    if role == "depth":
        return inspect_depth(data)
    if role == "audio":
        return inspect_audio(data)
    raise MediaDecodeError(f"has an unknown media role {role!r}")
