from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CardTypeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")]
CardTypeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CardTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: CardTypeId
    name: CardTypeName
    gpu_memory_gib: int = Field(ge=1, le=1024, strict=True)
    max_gpus: int = Field(ge=1, le=64, strict=True)


class CardTypeOut(BaseModel):
    id: str
    name: str
    gpu_memory_gib: int
    max_gpus: int
