"""Request bodies of the submission and admin endpoints (unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["named", "anonymous"]


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: What the owner is told: 1 to 500 characters, no control characters but newlines and tabs.
    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            min_length=1,
            max_length=500,
            pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$",
        ),
    ]
