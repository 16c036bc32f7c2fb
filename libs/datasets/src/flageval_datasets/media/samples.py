"""Tiny media files made on the spot (tests, docs examples): PNG/JPEG images, masks, 16-bit
depth maps, PCM WAV and FLAC clips. Nothing is downloaded."""

from __future__ import annotations

import io
import math
import struct
import wave

from PIL import Image


def png(
    mode: str = "RGB", size: tuple[int, int] = (8, 6), value: int | tuple[int, ...] = 0
) -> bytes:
    """A solid PNG: ``RGB`` image, ``L``/``P`` mask (value = class id), ``I;16`` depth map."""
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, "PNG")
    return buf.getvalue()


def jpeg(size: tuple[int, int] = (8, 6), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def _tone(n: int, rate: int, freq: float) -> list[int]:
    return [int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]


def wav(n_frames: int = 160, rate: int = 16000, freq: float = 440.0) -> bytes:
    """A mono 16-bit PCM WAV tone."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{n_frames}h", *_tone(n_frames, rate, freq)))
    return buf.getvalue()


def _crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def flac(n_frames: int = 160, rate: int = 16000, freq: float = 440.0) -> bytes:
    """A mono 16-bit FLAC tone: STREAMINFO + one frame with a VERBATIM subframe (valid FLAC,
    uncompressed; CRC-8/CRC-16 computed as the format specifies)."""
    if not 16 <= n_frames <= 65535:
        raise ValueError("n_frames must be 16..65535 (one FLAC frame)")
    info = struct.pack(">HH", n_frames, n_frames) + b"\x00\x00\x00" * 2
    bits = (rate << 44) | (0 << 41) | (15 << 36) | n_frames  # mono, 16 bits/sample
    info += bits.to_bytes(8, "big") + b"\x00" * 16  # MD5 unknown
    meta = bytes([0x80]) + len(info).to_bytes(3, "big") + info  # last block, STREAMINFO
    # Frame header: sync + fixed blocking, block size from a 16-bit field (0b0111), rate from
    # STREAMINFO (0b0000), mono (0b0000), 16-bit (0b100), frame number 0.
    head = bytes([0xFF, 0xF8, 0x70, 0x08, 0x00]) + struct.pack(">H", n_frames - 1)
    head += bytes([_crc8(head)])
    frame = head + b"\x02" + struct.pack(f">{n_frames}h", *_tone(n_frames, rate, freq))
    frame += struct.pack(">H", _crc16(frame))
    return b"fLaC" + meta + frame
