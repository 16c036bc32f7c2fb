"""The preset images every user may choose for a private deployment.

Seeded idempotently at startup (:func:`flageval_image_registry.images.service.seed_presets`):
a preset's row is inserted or brought up to date from this list, and ``image.available`` is
enqueued once per preset. A preset's id is ``uuid5(PRESET_NAMESPACE, "name:tag")``, so it is the
same on every installation; a changed image gets a new tag, hence a new id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flageval_contracts.enums import Domain

PRESET_NAMESPACE = uuid.UUID("5b0f1d8e-3a52-4c7e-9a51-6f1e0c2d7a10")

ALL_CARDS = ("a100-80g", "a800-80g", "h100-80g", "v100-32g", "rtx4090-24g")
BIG_CARDS = ("a100-80g", "a800-80g", "h100-80g")


@dataclass(frozen=True)
class PresetImage:
    name: str
    tag: str
    description: str
    framework: str
    #: Card type ids of the eval-api catalog that the image suits.
    card_types: tuple[str, ...]
    tags: tuple[str, ...]
    domain: Domain
    #: Where the image is pulled from (the platform registry in a cluster deployment).
    source_url: str

    @property
    def id(self) -> uuid.UUID:
        return preset_id(self.name, self.tag)


def preset_id(name: str, tag: str) -> uuid.UUID:
    return uuid.uuid5(PRESET_NAMESPACE, f"{name}:{tag}")


PRESETS: tuple[PresetImage, ...] = (
    PresetImage(
        name="flageval-nlp-ngc-pytorch2303",
        tag="v1.0",
        description=(
            "NGC PyTorch 23.03, openssh-server, transformer-engine 0.6.0, transformers 4.31.0, "
            "transformers-stream-generator 0.0.4, sentencepiece 0.1.98, accelerate 0.21.0, "
            "cpm_kernels, fairscale, tiktoken; fits LLaMA, ChatGLM2-6B, Baichuan-13B-Chat."
        ),
        framework="PyTorch 2.0 (NGC 23.03)",
        card_types=ALL_CARDS,
        tags=("nlp", "llm", "transformers", "cuda-12.1"),
        domain=Domain.NLP,
        source_url="nvcr.io/nvidia/pytorch:23.03-py3",
    ),
    PresetImage(
        name="flageval-cv-pytorch-mmcv",
        tag="v1.0",
        description=(
            "PyTorch 1.13 with mmcv-full 1.7, mmsegmentation 0.30, mmdet 2.28, timm 0.9 and "
            "openssh-server: linear probe, UPerNet/SETR segmentation and depth heads for backbones."
        ),
        framework="PyTorch 1.13 + MMCV 1.7",
        card_types=ALL_CARDS,
        tags=("cv", "mmcv", "mmsegmentation", "timm"),
        domain=Domain.CV,
        source_url="nvcr.io/nvidia/pytorch:22.12-py3",
    ),
    PresetImage(
        name="flageval-multimodal-pytorch",
        tag="v1.0",
        description=(
            "NGC PyTorch 23.03 with transformers 4.31, open_clip, diffusers 0.19, timm, "
            "pycocoevalcap and openssh-server for VQA, retrieval and text-to-image models."
        ),
        framework="PyTorch 2.0 (NGC 23.03)",
        card_types=(*BIG_CARDS, "v100-32g"),
        tags=("multimodal", "vqa", "retrieval", "t2i"),
        domain=Domain.MULTIMODAL,
        source_url="nvcr.io/nvidia/pytorch:23.03-py3",
    ),
    PresetImage(
        name="flageval-audio-pytorch",
        tag="v1.0",
        description=(
            "NGC PyTorch 23.03 with torchaudio, librosa 0.10, soundfile, fairseq 0.12, "
            "transformers 4.31, jiwer and openssh-server for speech models."
        ),
        framework="PyTorch 2.0 (NGC 23.03) + torchaudio",
        card_types=ALL_CARDS,
        tags=("audio", "asr", "torchaudio"),
        domain=Domain.AUDIO,
        source_url="nvcr.io/nvidia/pytorch:23.03-py3",
    ),
)
