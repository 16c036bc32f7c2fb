"""Dataset card (SPEC §6): the JSON that describes one dataset."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
