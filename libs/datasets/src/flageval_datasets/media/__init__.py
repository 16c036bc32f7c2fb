"""Media datasets (issue 14): a card (JSON, with an item ``kind``) + a manifest (JSONL, one item
a line) + files (images, masks, depth maps, audio) referenced by relative path, each with a
sha256. :func:`parse_manifest` checks all three at once with line-numbered errors; the
importers (``python -m flageval_datasets.media``) build one from public formats."""

from ..card import MEDIA_CARD_ADAPTER, MEDIA_KINDS, MediaCard, MediaKind, MediaMetric
from .decode import MediaDecodeError, MediaInfo, inspect_media
from .items import ITEM_MODELS, MediaItem, check_media_path
from .manifest import (
    FileInfo,
    MediaDataset,
    compute_media_sha256,
    parse_manifest,
    parse_media_card,
)

__all__ = [
    "ITEM_MODELS",
    "MEDIA_CARD_ADAPTER",
    "MEDIA_KINDS",
    "FileInfo",
    "MediaCard",
    "MediaDataset",
    "MediaDecodeError",
    "MediaInfo",
    "MediaItem",
    "MediaKind",
    "MediaMetric",
    "check_media_path",
    "compute_media_sha256",
    "inspect_media",
    "parse_manifest",
    "parse_media_card",
]
