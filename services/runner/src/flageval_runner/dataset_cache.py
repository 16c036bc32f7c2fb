"""A per-version cache of media datasets on the runner's machine (docs/datasets.md).

A media dataset source in the run's spec (``{"type": "media", "version", "content_sha256",
"card_url", "manifest_url", "files": [{path, size_bytes, sha256, url}]}``) names every file
with its size and sha256; ``card.json`` and ``manifest.jsonl`` are among the files. The cache
keeps one folder per version::

    <root>/<dataset>/<content_sha256>/     card.json, manifest.jsonl, files/…  (read-only)
    <root>/<dataset>/<content_sha256>.verified   the stamp (see below)
    <root>/<dataset>/<content_sha256>.lock       held while one run fills or checks the entry

Filling: every file streams to disk under a fresh temporary folder (never whole in memory),
hashed while it streams; a size or sha256 that differs from the spec raises
:class:`~flageval_runner.progress.DownloadError` naming the file and the temporary folder is
deleted, so a bad copy is never kept. Once every file matched, the files are made read-only,
the folder is renamed into place and the stamp is written last.

Reuse: the stamp records, per file, the size and ``st_mtime_ns`` it had right after it was
verified, plus the spec's sha256. A later run of the same version re-checks only the sizes and
mtimes (a stat per file, no hashing): rewriting a file changes its mtime (``chmod`` back and
write, or replace), so a copy changed since it was verified is noticed, dropped and downloaded
again. Anything off in the stamp (missing, unreadable, another file list) counts the same way.
The lock (``fcntl.flock``) serialises runs of one version on one machine: the second waits for
the first to fill the entry, then reuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flageval_datasets.media import FileInfo, MediaDataset, parse_manifest
from flageval_runner.progress import DownloadError, ProgressClient

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "FLAGEVAL_DATASET_CACHE"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STAMP_VERSION = 1


@dataclass(frozen=True)
class MediaFile:
    """One file of a media dataset version as the spec pins it."""

    path: str
    size_bytes: int
    sha256: str
    url: str


@dataclass(frozen=True)
class CachedDataset:
    """A verified, read-only copy of one version."""

    name: str
    content_sha256: str
    root: Path
    files: tuple[MediaFile, ...]
    #: True when the copy was already in the cache (checked by size and mtime, not rehashed).
    reused: bool

    def path(self, rel: str) -> Path:
        return self.root / rel


def parse_source(source: dict[str, Any], name: str) -> tuple[str, list[MediaFile]]:
    """``content_sha256`` and the pinned files of a media source; :class:`DownloadError` when
    the spec is malformed (the platform's fault)."""
    content = str(source.get("content_sha256") or "").lower()
    if not _SHA256.fullmatch(content):
        raise DownloadError(f"the media source of dataset {name} has no valid content_sha256")
    raw = source.get("files")
    if not isinstance(raw, list) or not raw:
        raise DownloadError(f"the media source of dataset {name} lists no files")
    files: list[MediaFile] = []
    seen: set[str] = set()
    for entry in raw:
        if not isinstance(entry, dict):
            raise DownloadError(f"the media source of dataset {name} has a malformed file entry")
        rel = str(entry.get("path", ""))
        _check_rel(rel)
        if rel in seen:
            raise DownloadError(f"dataset file {rel} is listed twice")
        seen.add(rel)
        digest = str(entry.get("sha256", "")).lower()
        size = entry.get("size_bytes")
        if not _SHA256.fullmatch(digest) or not isinstance(size, int) or size < 0:
            raise DownloadError(f"dataset file {rel}: the spec gives no valid size and sha256")
        files.append(MediaFile(rel, size, digest, str(entry.get("url", ""))))
    return content, files


def _check_rel(rel: str) -> None:
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\x00" in rel
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise DownloadError(f"dataset file path {rel!r} is not a safe relative path")


def default_root(work_dir: Path) -> Path:
    """``$FLAGEVAL_DATASET_CACHE``, else a cache private to this attempt's work folder (the
    local executor sets the variable to ``DATA_DIR/dataset-cache``, shared by every run)."""
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else work_dir / "dataset-cache"


class DatasetCache:
    """The cache under ``root``; :meth:`fetch` returns a verified copy of one version."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def fetch(
        self, client: ProgressClient, name: str, source: dict[str, Any]
    ) -> CachedDataset:
        """A verified read-only copy of the version ``source`` pins, downloaded if needed."""
        if not _NAME.fullmatch(name):
            raise DownloadError(f"dataset name {name!r} cannot name a cache folder")
        content, files = parse_source(source, name)
        folder = self.root / name
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        async with _locked(folder / f"{content}.lock"):
            final = folder / content
            stamp = folder / f"{content}.verified"
            if await asyncio.to_thread(_stamp_matches, final, stamp, files):
                logger.info(
                    "dataset %s: %d files verified (cached copy of version %s, sizes and mtimes "
                    "as when hashed)",
                    name,
                    len(files),
                    content[:12],
                )
                return CachedDataset(name, content, final, tuple(files), reused=True)
            await asyncio.to_thread(_discard, stamp, final)
            tmp = folder / f".tmp-{uuid.uuid4().hex}"
            try:
                for f in files:
                    await client.download_to(
                        f.url,
                        _target(tmp, f.path),
                        f"dataset file {f.path}",
                        size=f.size_bytes,
                        sha256=f.sha256,
                    )
                await asyncio.to_thread(_seal, tmp, final, stamp, files)
            except BaseException:
                await asyncio.to_thread(_remove_tree, tmp)
                raise
        logger.info(
            "dataset %s: %d files verified (%d bytes, every size and sha256 as pinned)",
            name,
            len(files),
            sum(f.size_bytes for f in files),
        )
        return CachedDataset(name, content, final, tuple(files), reused=False)


def _target(root: Path, rel: str) -> Path:
    _check_rel(rel)
    return root.joinpath(*rel.split("/"))


@contextlib.asynccontextmanager
async def _locked(path: Path) -> Any:
    fd = await asyncio.to_thread(os.open, path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            yield Path(dirpath) / n


def _seal(tmp: Path, final: Path, stamp: Path, files: list[MediaFile]) -> None:
    """Make the verified copy read-only, move it into place, then write the stamp."""
    for path in _walk_files(tmp):
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    tmp.rename(final)
    entries = {}
    for f in files:
        st = _target(final, f.path).stat()
        entries[f.path] = [st.st_size, st.st_mtime_ns, f.sha256]
    part = stamp.with_name(stamp.name + ".part")
    part.write_text(json.dumps({"version": STAMP_VERSION, "files": entries}))
    part.replace(stamp)


def _stamp_matches(final: Path, stamp: Path, files: list[MediaFile]) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or recorded.get("version") != STAMP_VERSION:
        return False
    entries = recorded.get("files")
    if not isinstance(entries, dict) or set(entries) != {f.path for f in files}:
        return False
    for f in files:
        try:
            st = _target(final, f.path).stat()
        except OSError:
            return False
        if entries[f.path] != [f.size_bytes, st.st_mtime_ns, f.sha256] or st.st_size != (
            f.size_bytes
        ):
            return False
    return True


def _discard(stamp: Path, final: Path) -> None:
    """Drop a cache entry that is missing, incomplete or changed since it was verified."""
    stamp.unlink(missing_ok=True)
    if final.exists():
        logger.warning(
            "dataset cache entry %s changed since it was verified; fetching again", final
        )
        _remove_tree(final)


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    # The files are read-only; their folders are not, so unlinking them needs no chmod.
    shutil.rmtree(path, ignore_errors=True)


CARD = "card.json"
MANIFEST = "manifest.jsonl"
#: Media files live under this folder; manifest paths are relative to it.
FILE_ROOT = "files/"


def load_media_manifest(cached: CachedDataset) -> MediaDataset:
    """Parse the verified copy's card and manifest against its file table (every referenced
    file present, item fields per kind, labels among the classes). The files' bytes were
    verified while they were downloaded, so they are not read again here."""
    files = {
        f.path[len(FILE_ROOT) :]: FileInfo(size=f.size_bytes, sha256=f.sha256)
        for f in cached.files
        if f.path.startswith(FILE_ROOT)
    }
    return parse_manifest(cached.path(CARD).read_bytes(), cached.path(MANIFEST).read_bytes(), files)
