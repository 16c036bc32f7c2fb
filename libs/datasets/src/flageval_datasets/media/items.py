"""Item schemas of media datasets, one per :class:`~flageval_datasets.card.MediaKind`.

Each manifest line is one item. Media fields hold paths relative to the dataset's file root
(``files/`` in an imported dataset), in POSIX form: no absolute paths, no ``..``, no
backslashes. ``id`` accepts integers and stores them as strings, like NLP items.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..card import MediaKind

MAX_PATH_LEN = 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def check_media_path(v: str) -> str:
    """A safe relative POSIX path, or ``ValueError`` naming the problem."""
    if not v:
        raise ValueError("path is empty")
    if len(v) > MAX_PATH_LEN:
        raise ValueError(f"path is longer than {MAX_PATH_LEN} characters")
    if "\x00" in v or any(ord(ch) < 32 for ch in v):
        raise ValueError(f"path {v!r} holds a control character")
    if "\\" in v:
        raise ValueError(f"path {v!r} uses a backslash; use '/' separators")
    if v.startswith("/") or _DRIVE_RE.match(v):
        raise ValueError(f"path {v!r} is absolute; paths are relative to the dataset's files")
    parts = v.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"path {v!r} has an empty, '.' or '..' component (path traversal)")
    return v


def _int_to_str(v: object) -> object:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("is blank")
    return v


ItemId = Annotated[str, BeforeValidator(_int_to_str), Field(min_length=1, max_length=200)]
MediaPath = Annotated[str, AfterValidator(check_media_path)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]
Label = Annotated[str, BeforeValidator(_int_to_str), Field(min_length=1)]


class _MediaItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ItemId

    def media_paths(self) -> list[tuple[str, str]]:
        """``(field, path)`` for every file this item references, e.g. ``("image", "a.png")``."""
        return []


class ImageClassificationItem(_MediaItem):
    image: MediaPath
    label: Label

    def media_paths(self) -> list[tuple[str, str]]:
        return [("image", self.image)]


class RetrievalItem(_MediaItem):
    image: MediaPath
    captions: list[Text] = Field(min_length=1)

    def media_paths(self) -> list[tuple[str, str]]:
        return [("image", self.image)]


class SegmentationItem(_MediaItem):
    image: MediaPath
    mask: MediaPath  # PNG, palette (P) or 8-bit (L) pixels = class ids

    def media_paths(self) -> list[tuple[str, str]]:
        return [("image", self.image), ("mask", self.mask)]


class DepthItem(_MediaItem):
    image: MediaPath
    depth: MediaPath  # 16-bit PNG; metres = value / card.depth_scale

    def media_paths(self) -> list[tuple[str, str]]:
        return [("image", self.image), ("depth", self.depth)]


class VqaItem(_MediaItem):
    """``answer`` (one string) is accepted on input and stored as ``answers``."""

    images: list[MediaPath] = Field(min_length=1, max_length=64)
    question: Text
    question_type: Text
    answers: list[Text] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _answer(cls, data: object) -> object:
        if isinstance(data, dict) and "answer" in data:
            if "answers" in data:
                raise ValueError("give either answer or answers, not both")
            data = dict(data)
            ans = data.pop("answer")
            data["answers"] = ans if isinstance(ans, list) else [ans]
        return data

    def media_paths(self) -> list[tuple[str, str]]:
        return [(f"images[{i}]", p) for i, p in enumerate(self.images)]


class TextToImageItem(_MediaItem):
    prompt: Text


class AudioClassificationItem(_MediaItem):
    audio: MediaPath  # WAV (PCM) or FLAC
    label: Label

    def media_paths(self) -> list[tuple[str, str]]:
        return [("audio", self.audio)]


class SpeechRecognitionItem(_MediaItem):
    audio: MediaPath
    transcript: Text

    def media_paths(self) -> list[tuple[str, str]]:
        return [("audio", self.audio)]


class SafetyPromptItem(_MediaItem):
    """Reserved minimal schema; the safety issue refines these fields."""

    prompt: Text
    category: Literal["A1", "A2", "A3", "A4", "A5"]


MediaItem = (
    ImageClassificationItem
    | RetrievalItem
    | SegmentationItem
    | DepthItem
    | VqaItem
    | TextToImageItem
    | AudioClassificationItem
    | SpeechRecognitionItem
    | SafetyPromptItem
)

ITEM_MODELS: dict[MediaKind, type[_MediaItem]] = {
    MediaKind.image_classification: ImageClassificationItem,
    MediaKind.retrieval: RetrievalItem,
    MediaKind.segmentation: SegmentationItem,
    MediaKind.depth: DepthItem,
    MediaKind.vqa: VqaItem,
    MediaKind.text_to_image: TextToImageItem,
    MediaKind.audio_classification: AudioClassificationItem,
    MediaKind.speech_recognition: SpeechRecognitionItem,
    MediaKind.safety_prompt: SafetyPromptItem,
}
