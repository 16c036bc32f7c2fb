"""Where an importer reads from: one file, a folder, or a .zip/.tar/.tar.gz archive of a folder.

Archives arrive from admins over HTTP, so they are read in memory, never extracted: a member
with an absolute path or a ``..`` component (zip slip), a link or a device is refused, and the
member count and total uncompressed size are bounded before anything is decompressed for use
(a tar's sizes are checked member by member, so a gzip bomb stops at the bound).
"""

from __future__ import annotations

import io
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..loader import DatasetError, LineError

MAX_TOTAL_BYTES = 512 * 1024 * 1024  # uncompressed, all members together
MAX_MEMBERS = 10_000

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    RuntimeError,  # zipfile: encrypted member
    NotImplementedError,  # zipfile: unsupported compression
    ValueError,
)


@dataclass(frozen=True)
class SingleFile:
    """One uploaded file: ``label`` names it in error messages."""

    label: str
    data: bytes


class SourceFiles:
    """The regular files of a folder or archive, by relative POSIX path, read on demand."""

    def __init__(
        self,
        label: str,
        sizes: dict[str, int],
        reader: Callable[[str], bytes],
        order: Callable[[str], int] | None = None,
    ):
        self.label = label
        self.sizes = sizes
        self._reader = reader
        self._order = order
        self._cache: dict[str, bytes] = {}

    @property
    def names(self) -> list[str]:
        """Paths worth looking at: hidden files and macOS ``__MACOSX`` forks left out."""
        return sorted(
            n
            for n in self.sizes
            if not any(p.startswith(".") or p == "__MACOSX" for p in n.split("/"))
        )

    def prefetch(self, names: list[str]) -> None:
        """Read ``names`` in storage order: a compressed tar is then decompressed in one
        forward pass instead of once per backward seek."""
        for name in sorted(names, key=self._order) if self._order else []:
            self._cache[name] = self.read(name)

    def read(self, name: str) -> bytes:
        if name in self._cache:
            return self._cache.pop(name)
        try:
            return self._reader(name)
        except _ARCHIVE_ERRORS as exc:
            raise DatasetError([LineError(None, f"cannot read {name}: {exc}", self.label)]) from exc


def _fail(label: str, message: str) -> DatasetError:
    return DatasetError([LineError(None, message, label)])


def is_archive(payload: bytes) -> bool:
    """zip, gzip (tar.gz), bzip2, xz or an uncompressed ustar tar, by their magic bytes."""
    return (
        payload[:4] in (b"PK\x03\x04", b"PK\x05\x06")
        or payload[:2] == b"\x1f\x8b"
        or payload[:3] == b"BZh"
        or payload[:6] == b"\xfd7zXZ\x00"
        or payload[257:262] == b"ustar"
    )


def _member_path(label: str, name: str) -> str:
    """Normalised relative path of an archive member; absolute or ``..`` paths refused."""
    if name.startswith(("/", "\\")) or _DRIVE_RE.match(name):
        raise _fail(label, f"member {name!r} has an absolute path: refused")
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        raise _fail(label, f"member {name!r} leaves the archive's folder (..): refused")
    return "/".join(parts)


class _Budget:
    def __init__(self, label: str):
        self.label, self.count, self.total = label, 0, 0

    def add(self, size: int) -> None:
        self.count += 1
        self.total += max(size, 0)
        if self.count > MAX_MEMBERS:
            raise _fail(self.label, f"more than {MAX_MEMBERS} files: refused")
        if self.total > MAX_TOTAL_BYTES:
            raise _fail(
                self.label, f"expands to more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB: refused"
            )


def _add(label: str, sizes: dict[str, int], path: str, size: int, budget: _Budget) -> None:
    if path in sizes:
        raise _fail(label, f"member {path!r} appears twice")
    budget.add(size)
    sizes[path] = size


def _open_zip(label: str, payload: bytes) -> SourceFiles:
    zf = zipfile.ZipFile(io.BytesIO(payload))
    sizes: dict[str, int] = {}
    infos: dict[str, zipfile.ZipInfo] = {}
    budget = _Budget(label)
    for info in zf.infolist():
        path = _member_path(label, info.filename)
        if info.is_dir() or not path:
            continue
        # Unix type bits, when the archiver wrote them: only regular files are taken.
        if stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG):
            raise _fail(label, f"member {info.filename!r} is a link or special file: refused")
        _add(label, sizes, path, info.file_size, budget)
        infos[path] = info
    return SourceFiles(label, sizes, lambda n: zf.read(infos[n]))


def _open_tar(label: str, payload: bytes) -> SourceFiles:
    tf = tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")
    sizes: dict[str, int] = {}
    members: dict[str, tarfile.TarInfo] = {}
    budget = _Budget(label)
    for member in tf:  # sizes checked before the next header is sought (a bomb stops here)
        path = _member_path(label, member.name)
        if member.isdir() or not path:
            continue
        if not member.isfile():
            raise _fail(label, f"member {member.name!r} is a link or special file: refused")
        _add(label, sizes, path, member.size, budget)
        members[path] = member

    def read(name: str) -> bytes:
        f = tf.extractfile(members[name])
        assert f is not None  # regular files only
        return f.read()

    return SourceFiles(label, sizes, read, order=lambda n: members[n].offset_data)


def open_archive(payload: bytes, label: str = "upload") -> SourceFiles:
    """The files of a zip or tar (optionally gzip/bzip2/xz-compressed) archive held in memory."""
    try:
        if payload[:2] == b"PK":
            return _open_zip(label, payload)
        return _open_tar(label, payload)
    except DatasetError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise _fail(label, f"not a readable .zip/.tar/.tar.gz archive ({exc})") from exc


def open_folder(root: Path) -> SourceFiles:
    """The regular files under ``root`` (symlinks skipped), with the archive bounds."""
    label = str(root)
    sizes: dict[str, int] = {}
    budget = _Budget(label)
    for dirpath, _dirnames, filenames in os.walk(root):
        for fn in filenames:
            full = Path(dirpath, fn)
            if full.is_symlink() or not full.is_file():
                continue
            _add(label, sizes, full.relative_to(root).as_posix(), full.stat().st_size, budget)
    return SourceFiles(label, sizes, lambda n: (root / n).read_bytes())
