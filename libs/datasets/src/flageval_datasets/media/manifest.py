"""Parse and check a media dataset: card JSON + JSONL manifest + the table of its files.

Every problem is reported at once in a :class:`~flageval_datasets.loader.DatasetError` whose
errors carry the manifest's 1-based line number (``line=None`` for the card and for whole-file
problems). With ``read`` the bytes of every referenced file are checked too: size and sha256
against the file table, and that they decode as what the field says (see
:mod:`flageval_datasets.media.decode`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..card import (
    MEDIA_CARD_ADAPTER,
    AudioClassificationCard,
    ImageClassificationCard,
    MediaCard,
    MediaKind,
    SegmentationCard,
)
from ..loader import (
    DatasetError,
    LineError,
    _pydantic_messages,
    canonical_json,
    card_object,
    jsonl_bytes,
    jsonl_objects,
)
from .decode import MediaDecodeError, MediaInfo, inspect_media
from .items import ITEM_MODELS, DepthItem, MediaItem, SegmentationItem

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileInfo:
    """One entry of a media dataset's file table (as uploaded): size in bytes and the
    lowercase hex sha256 of the file's bytes."""

    size: int
    sha256: str


@dataclass(frozen=True)
class MediaDataset:
    """A checked media dataset. ``items`` are in manifest order; ``files`` holds only the files
    the items reference (path relative to the file root → its :class:`FileInfo`)."""

    card: MediaCard
    items: list[MediaItem]
    files: dict[str, FileInfo] = field(default_factory=dict)
    content_sha256: str = ""

    @property
    def name(self) -> str:
        return self.card.name

    def card_bytes(self) -> bytes:
        """Canonical card JSON (sorted keys, no whitespace, defaults filled in)."""
        return canonical_json(self.card.model_dump(mode="json"))

    def manifest_bytes(self) -> bytes:
        """Canonical JSONL: one canonical item per line, trailing newline."""
        return b"".join(canonical_json(it.model_dump(mode="json")) + b"\n" for it in self.items)


def compute_media_sha256(
    card_bytes: bytes, manifest_bytes: bytes, files: Mapping[str, FileInfo]
) -> str:
    """sha256 over canonical card + ``\\n`` + canonical manifest + ``\\n`` + one
    ``path\\tsha256\\n`` line per file, sorted by path (UTF-8 code point order)."""
    h = hashlib.sha256()
    h.update(card_bytes)
    h.update(b"\n")
    h.update(manifest_bytes)
    h.update(b"\n")
    for path in sorted(files):
        h.update(f"{path}\t{files[path].sha256}\n".encode())
    return h.hexdigest()


def parse_media_card(card_bytes: bytes | str) -> MediaCard:
    """Validate a media card; :class:`DatasetError` (``line=None``) listing every problem."""
    raw = card_object(card_bytes)
    if "kind" not in raw:
        raise DatasetError(
            [LineError(None, "kind: Field required (a media card names its item kind)")]
        )
    try:
        return MEDIA_CARD_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        return _raise_card(exc)


def _raise_card(exc: ValidationError) -> Any:
    msgs = []
    for err in exc.errors():
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            kinds = ", ".join(k.value for k in MediaKind)
            msgs.append(f"kind: {err['input'].get('kind')!r} is not one of {kinds}")
            continue
        # Drop the discriminator tag pydantic puts first ("depth.max_depth" → "max_depth").
        loc = ".".join(str(p) for p in err["loc"][1:])
        msg = err["msg"].removeprefix("Value error, ")
        msgs.append(f"{loc}: {msg}" if loc else msg)
    raise DatasetError([LineError(None, m) for m in msgs]) from exc


def _label_problem(card: MediaCard, item: MediaItem) -> str | None:
    if isinstance(card, ImageClassificationCard | AudioClassificationCard):
        label = getattr(item, "label", None)
        if label is not None and label not in card.classes:
            shown = ", ".join(card.classes[:10]) + (", ..." if len(card.classes) > 10 else "")
            return f"label {label!r} is not one of the card's classes ({shown})"
    return None


def _pair_problem(item: MediaItem, infos: dict[str, MediaInfo | None]) -> str | None:
    """A mask or depth map must have its image's width and height."""
    if isinstance(item, SegmentationItem):
        role, path = "mask", item.mask
    elif isinstance(item, DepthItem):
        role, path = "depth", item.depth
    else:
        return None
    a, b = infos.get("image"), infos.get(role)
    if a is None or b is None or a.size is None or b.size is None or a.size == b.size:
        return None
    return (
        f"{role} {path!r} is {b.size[0]}x{b.size[1]} but image {item.image!r} "
        f"is {a.size[0]}x{a.size[1]}"
    )


def parse_manifest(
    card_bytes: bytes | str,
    manifest_bytes: bytes | str,
    files: Mapping[str, FileInfo],
    read: Callable[[str], bytes] | None = None,
) -> MediaDataset:
    """Check a media dataset and return it, or raise :class:`DatasetError` listing every problem.

    ``files`` is the uploaded file table (path relative to the file root → size + sha256).
    Checked per manifest line: UTF-8, JSON object, the kind's item schema (unknown fields
    refused), duplicate ids, safe relative paths, every referenced file present in ``files``,
    labels among the card's ``classes``. With ``read(path) -> bytes`` every referenced file is
    also read once: its size and sha256 must match ``files`` and it must decode (images by
    Pillow; masks single-channel PNGs with class ids < len(classes) or = ignore_index; depth
    16-bit PNGs; masks and depth maps the size of their image; audio PCM WAV or FLAC).
    """
    errors: list[LineError] = []
    card: MediaCard | None = None
    try:
        card = parse_media_card(card_bytes)
    except DatasetError as exc:
        errors.extend(exc.errors)

    bad_table = [p for p, fi in files.items() if not _SHA256_RE.fullmatch(fi.sha256)]
    for p in sorted(bad_table)[:5]:
        errors.append(LineError(None, f"file table: {p!r} has no valid lowercase hex sha256"))

    items: list[MediaItem] = []
    referenced: dict[str, FileInfo] = {}
    seen: dict[str, int] = {}
    # (role, path) → decode result; each file is read once, its problem told on every line
    decoded: dict[str, MediaInfo | MediaDecodeError] = {}
    for lineno, obj in jsonl_objects(manifest_bytes, errors):
        if card is None:
            continue  # no schema without a valid card; the card's errors are reported
        try:
            item: MediaItem = ITEM_MODELS[card.kind].model_validate(obj)  # type: ignore[assignment]
        except ValidationError as exc:
            errors.extend(LineError(lineno, m) for m in _pydantic_messages(exc))
            continue
        if item.id in seen:
            errors.append(
                LineError(lineno, f"duplicate id {item.id!r} (first on line {seen[item.id]})")
            )
            continue
        seen[item.id] = lineno
        line_errors: list[str] = []
        label_problem = _label_problem(card, item)
        if label_problem:
            line_errors.append(label_problem)
        infos: dict[str, MediaInfo | None] = {}
        for fld, path in item.media_paths():
            info = files.get(path)
            if info is None:
                line_errors.append(f"{fld}: file {path!r} is not among the dataset's files")
                continue
            referenced[path] = info
            if read is None:
                continue
            role = fld.split("[")[0]
            key = f"{role}\x00{path}"
            if key not in decoded:
                decoded[key] = _read_and_inspect(read, path, info, role, card)
            result = decoded[key]
            if isinstance(result, MediaDecodeError):
                line_errors.append(f"{fld}: file {path!r} {result}")
                infos[role] = None
            else:
                infos[role] = result
        if read is not None and not line_errors:
            pair = _pair_problem(item, infos)
            if pair:
                line_errors.append(pair)
        errors.extend(LineError(lineno, m) for m in line_errors)
        items.append(item)

    if not jsonl_bytes(manifest_bytes):
        errors.append(LineError(None, "manifest is empty"))
    if errors or card is None:
        raise DatasetError(errors)

    ds = MediaDataset(card=card, items=items, files=referenced)
    sha = compute_media_sha256(ds.card_bytes(), ds.manifest_bytes(), referenced)
    return MediaDataset(card=card, items=items, files=referenced, content_sha256=sha)


def _read_and_inspect(
    read: Callable[[str], bytes], path: str, info: FileInfo, role: str, card: MediaCard
) -> MediaInfo | MediaDecodeError:
    try:
        data = read(path)
    except (OSError, KeyError) as exc:
        return MediaDecodeError(f"cannot be read ({type(exc).__name__})")
    if len(data) != info.size:
        return MediaDecodeError(f"has {len(data)} bytes but the file table says {info.size}")
    if hashlib.sha256(data).hexdigest() != info.sha256:
        return MediaDecodeError("does not match its sha256 in the file table")
    classes = card.classes if isinstance(card, SegmentationCard) else None
    ignore = card.ignore_index if isinstance(card, SegmentationCard) else None
    try:
        return inspect_media(role, data, classes=classes, ignore_index=ignore)
    except MediaDecodeError as exc:
        return exc
