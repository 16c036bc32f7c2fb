"""Dataset card (SPEC §6): the JSON that describes one dataset — an NLP card (``task``) or a
media card (``kind``, issue 14)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)


class Task(StrEnum):
    choice_qa = "choice_qa"
    classification = "classification"
    generative_qa = "generative_qa"
    math = "math"
    open_qa = "open_qa"


class Metric(StrEnum):
    accuracy = "accuracy"
    exact_match = "exact_match"
    quasi_exact_match = "quasi_exact_match"
    f1 = "f1"
    none = "none"


class Language(StrEnum):
    en = "en"
    zh = "zh"


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Which metrics make sense for which task; the card is rejected otherwise.
ALLOWED_METRICS: dict[Task, set[Metric]] = {
    Task.choice_qa: {Metric.accuracy},
    Task.classification: {Metric.accuracy, Metric.exact_match, Metric.quasi_exact_match},
    Task.generative_qa: {Metric.exact_match, Metric.quasi_exact_match, Metric.f1},
    Task.math: {Metric.exact_match, Metric.accuracy},
    Task.open_qa: {Metric.none},
}


class DatasetCard(BaseModel):
    """The card. ``prompt_template`` may use ``{input}`` and ``{choices}``; when absent
    the default for (task, language) from :mod:`flageval_runner.prompts` applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    domain: str = "nlp"
    task: Task
    language: Language
    metric: Metric
    few_shot: int = Field(default=0, ge=0, le=25)
    version: str = Field(min_length=1, max_length=64)
    prompt_template: str | None = None
    description: str = Field(default="", max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.fullmatch(v):
            raise ValueError("name must be 1-64 chars of [A-Za-z0-9._-], starting alphanumeric")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if v not in {"nlp", "cv", "multimodal", "audio", "safety"}:
            raise ValueError("domain must be one of nlp, cv, multimodal, audio, safety")
        return v

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "{input}" not in v:
            raise ValueError("prompt_template must contain the {input} placeholder")
        allowed = {"input", "choices"}
        for m in re.finditer(r"\{([^{}]*)\}", v):
            if m.group(1) not in allowed:
                raise ValueError(
                    f"prompt_template placeholder {{{m.group(1)}}} unknown; "
                    "allowed: {input}, {choices}"
                )
        return v

    @model_validator(mode="after")
    def _metric_fits_task(self) -> DatasetCard:
        if self.metric not in ALLOWED_METRICS[self.task]:
            allowed = ", ".join(sorted(m.value for m in ALLOWED_METRICS[self.task]))
            raise ValueError(
                f"metric {self.metric.value!r} does not fit task {self.task.value!r} (allowed: {allowed})"
            )
        return self


# --- Media datasets (issue 14): a card + a JSONL manifest + files referenced by relative path ---
#
# NLP cards above stay exactly as they were; a media card is told apart by its ``kind``.


class MediaKind(StrEnum):
    """The item kind of a media dataset; each has its own item schema
    (:mod:`flageval_datasets.media.items`) and its own card fields."""

    image_classification = "image_classification"
    retrieval = "retrieval"
    segmentation = "segmentation"
    depth = "depth"
    vqa = "vqa"
    text_to_image = "text_to_image"
    audio_classification = "audio_classification"
    speech_recognition = "speech_recognition"
    # Reserved: the safety issue refines the item fields; the minimal schema is
    # {id, prompt, category A1..A5}.
    safety_prompt = "safety_prompt"


class MediaMetric(StrEnum):
    accuracy = "accuracy"
    top5_accuracy = "top5_accuracy"
    recall_at_k = "recall_at_k"  # image↔text retrieval, R@1/5/10
    miou = "miou"  # segmentation, mean IoU over classes (ignore_index excluded)
    abs_rel = "abs_rel"  # depth: absolute relative error
    rmse = "rmse"
    delta1 = "delta1"  # depth: share of pixels with max(d/d*, d*/d) < 1.25
    vqa_accuracy = "vqa_accuracy"  # min(#matching answers / 3, 1)
    exact_match = "exact_match"
    clip_score = "clip_score"
    fid = "fid"
    wer = "wer"
    cer = "cer"
    attack_success_rate = "attack_success_rate"


@dataclass(frozen=True)
class MediaKindInfo:
    """What a kind allows: its domains (the first is the default) and its metrics (the
    first is the default)."""

    domains: tuple[str, ...]
    metrics: tuple[MediaMetric, ...]


M = MediaMetric
MEDIA_KINDS: dict[MediaKind, MediaKindInfo] = {
    MediaKind.image_classification: MediaKindInfo(("cv",), (M.accuracy, M.top5_accuracy)),
    MediaKind.retrieval: MediaKindInfo(("multimodal", "cv"), (M.recall_at_k,)),
    MediaKind.segmentation: MediaKindInfo(("cv",), (M.miou,)),
    MediaKind.depth: MediaKindInfo(("cv",), (M.abs_rel, M.rmse, M.delta1)),
    MediaKind.vqa: MediaKindInfo(("multimodal",), (M.vqa_accuracy, M.exact_match, M.accuracy)),
    MediaKind.text_to_image: MediaKindInfo(("multimodal",), (M.clip_score, M.fid)),
    MediaKind.audio_classification: MediaKindInfo(("audio",), (M.accuracy, M.top5_accuracy)),
    MediaKind.speech_recognition: MediaKindInfo(("audio",), (M.wer, M.cer)),
    MediaKind.safety_prompt: MediaKindInfo(("safety",), (M.attack_success_rate,)),
}
del M


class _MediaCardBase(BaseModel):
    """Fields every media card has. ``domain`` and ``metric`` default to the kind's first
    allowed value; ``source``/``license`` are free text shown in the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: MediaKind
    domain: str = ""
    metric: MediaMetric | None = None
    version: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1024)
    source: str = Field(default="", max_length=1024)
    license: str = Field(default="", max_length=256)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.fullmatch(v):
            raise ValueError("name must be 1-64 chars of [A-Za-z0-9._-], starting alphanumeric")
        return v

    @model_validator(mode="after")
    def _kind_defaults(self) -> _MediaCardBase:
        info = MEDIA_KINDS[self.kind]
        if not self.domain:
            object.__setattr__(self, "domain", info.domains[0])
        elif self.domain not in info.domains:
            raise ValueError(
                f"domain {self.domain!r} does not fit kind {self.kind.value!r} "
                f"(allowed: {', '.join(info.domains)})"
            )
        if self.metric is None:
            object.__setattr__(self, "metric", info.metrics[0])
        elif self.metric not in info.metrics:
            raise ValueError(
                f"metric {self.metric.value!r} does not fit kind {self.kind.value!r} "
                f"(allowed: {', '.join(m.value for m in info.metrics)})"
            )
        return self


def _check_classes(v: list[str]) -> list[str]:
    if any(not c.strip() for c in v):
        raise ValueError("a class name is blank")
    seen: set[str] = set()
    for c in v:
        if c in seen:
            raise ValueError(f"class {c!r} is listed twice")
        seen.add(c)
    return v


class _ClassesCard(_MediaCardBase):
    classes: list[str] = Field(min_length=2, max_length=100_000)

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        return _check_classes(v)


class ImageClassificationCard(_ClassesCard):
    kind: Literal[MediaKind.image_classification]


class RetrievalCard(_MediaCardBase):
    kind: Literal[MediaKind.retrieval]


class SegmentationCard(_MediaCardBase):
    """``classes[i]`` names mask pixel value ``i``; pixels equal to ``ignore_index`` are
    not scored (ADE20K-style data: ``classes[0]`` is "other" and ``ignore_index`` is 0)."""

    kind: Literal[MediaKind.segmentation]
    classes: list[str] = Field(min_length=1, max_length=256)
    ignore_index: int = Field(default=255, ge=0, le=255)

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        return _check_classes(v)


class DepthCrop(StrEnum):
    none = "none"
    eigen = "eigen"  # NYU-v2 evaluation crop (Eigen et al. 2014)
    garg = "garg"  # KITTI evaluation crop (Garg et al. 2016)


class DepthCard(_MediaCardBase):
    """Depth maps are 16-bit PNGs; metres = pixel / ``depth_scale`` (1000 for millimetres,
    256 for KITTI); pixels outside [min_depth, max_depth] metres (and 0) are not scored."""

    kind: Literal[MediaKind.depth]
    depth_scale: float = Field(gt=0, le=1_000_000)
    min_depth: float = Field(default=1e-3, ge=0)
    max_depth: float = Field(gt=0)
    crop: DepthCrop = DepthCrop.none

    @model_validator(mode="after")
    def _range(self) -> DepthCard:
        if self.max_depth <= self.min_depth:
            raise ValueError(
                f"max_depth ({self.max_depth}) must be greater than min_depth ({self.min_depth})"
            )
        return self


class VqaCard(_MediaCardBase):
    kind: Literal[MediaKind.vqa]


class TextToImageCard(_MediaCardBase):
    kind: Literal[MediaKind.text_to_image]


class AudioClassificationCard(_ClassesCard):
    kind: Literal[MediaKind.audio_classification]


class SpeechRecognitionCard(_MediaCardBase):
    kind: Literal[MediaKind.speech_recognition]
    language: str = Field(default="en", min_length=2, max_length=16)


class SafetyPromptCard(_MediaCardBase):
    kind: Literal[MediaKind.safety_prompt]


MediaCard = Annotated[
    ImageClassificationCard
    | RetrievalCard
    | SegmentationCard
    | DepthCard
    | VqaCard
    | TextToImageCard
    | AudioClassificationCard
    | SpeechRecognitionCard
    | SafetyPromptCard,
    Field(discriminator="kind"),
]
"""A media card; validate with :data:`MEDIA_CARD_ADAPTER` (``kind`` picks the model)."""

MEDIA_CARD_ADAPTER: TypeAdapter[MediaCard] = TypeAdapter(MediaCard)
