"""What the platform evaluates, per domain, as plain data (see the FlagEval user guide).

Built-in datasets and tasks are code-defined (administrators register more datasets, SPEC §6:
:mod:`flageval_eval_api.datasets`, never reusing a built-in id); card types are rows of
``card_types``: :data:`CARD_TYPES` is what the ``20261127_0002`` migration inserted as the
built-in ones (that migration holds its own copy of the list).

Ids are lowercase ``[a-z0-9-]`` and unique across all domains, so a dataset id alone names one
dataset. Every dataset belongs to exactly one task of its domain.
"""

from __future__ import annotations

from typing import Any

#: Built-in card types: (id, name, GPU memory in GiB, GPUs one machine offers).
CARD_TYPES: tuple[tuple[str, str, int, int], ...] = (
    ("a100-80g", "NVIDIA A100 80GB", 80, 8),
    ("a800-80g", "NVIDIA A800 80GB", 80, 8),
    ("h100-80g", "NVIDIA H100 80GB", 80, 8),
    ("v100-32g", "NVIDIA V100 32GB", 32, 8),
    ("rtx4090-24g", "NVIDIA GeForce RTX 4090 24GB", 24, 8),
)

#: The five categories of TC260-003 (Basic security requirements for generative AI services).
SAFETY_CATEGORIES: dict[str, str] = {
    "A1": "Violating core socialist values (违反社会主义核心价值观)",
    "A2": "Discriminatory content (歧视性内容)",
    "A3": "Commercial violations (商业违法违规)",
    "A4": "Infringing others' legitimate rights (侵犯他人合法权益)",
    "A5": "Failing the security needs of specific service types (无法满足特定服务类型的安全需求)",
}

#: Per domain: how it may be deployed, which dimensions it offers, whether a validation run
#: exists, which model types it accepts (CV: backbone only, SPEC §2).
DOMAINS: dict[str, dict[str, Any]] = {
    "nlp": {
        "deploy_modes": ("private", "api"),
        "dimensions": ("accuracy", "robustness"),
        "has_validation": True,
        "model_types": ("base", "chat"),
    },
    "cv": {
        "deploy_modes": ("private",),
        "dimensions": ("accuracy", "robustness"),
        "has_validation": True,
        "model_types": ("backbone",),
    },
    "multimodal": {
        "deploy_modes": ("private", "api"),
        "dimensions": ("accuracy", "robustness"),
        "has_validation": True,
        "model_types": ("vlm", "dual-encoder", "text-to-image"),
    },
    "audio": {
        "deploy_modes": ("private",),
        "dimensions": ("accuracy",),
        "has_validation": False,
        "model_types": ("audio-backbone",),
    },
    "safety": {
        "deploy_modes": ("api",),
        "dimensions": ("accuracy",),
        "has_validation": False,
        "model_types": ("chat",),
    },
}

# Tasks: (domain, id, name, adaptation methods). Only CV tasks have adaptation methods: the
# head the platform trains on the frozen backbone. Segmentation: UPerNet for feature-pyramid
# backbones (Swin, ViT-Adapter), SETR for plain ViT; depth: two depth heads, pyramid only.
TASKS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("nlp", "knowledge", "Knowledge and exams", ()),
    ("nlp", "math-reasoning", "Mathematical reasoning", ()),
    ("nlp", "commonsense-reasoning", "Commonsense reasoning", ()),
    ("nlp", "reading-comprehension", "Reading comprehension", ()),
    ("nlp", "truthfulness", "Truthfulness", ()),
    ("nlp", "chinese-open-qa", "Chinese open QA (human evaluation)", ()),
    ("cv", "classification", "Image classification", ("linear-probe",)),
    ("cv", "retrieval", "Image retrieval", ("linear-probe",)),
    ("cv", "few-shot-classification", "Few-shot classification", ("linear-probe",)),
    ("cv", "semi-supervised-classification", "Semi-supervised classification", ("linear-probe",)),
    ("cv", "segmentation", "Semantic segmentation", ("upernet", "setr")),
    ("cv", "depth-estimation", "Monocular depth estimation", ("depthformer", "binsformer")),
    ("multimodal", "vqa", "Visual question answering", ()),
    ("multimodal", "retrieval", "Image-text retrieval", ()),
    ("multimodal", "t2i", "Text-to-image generation", ()),
    ("audio", "asr", "Automatic speech recognition", ()),
    ("audio", "keyword-spotting", "Keyword spotting", ()),
    ("audio", "intent-classification", "Intent classification", ()),
    ("audio", "speaker-identification", "Speaker identification", ()),
    ("audio", "emotion-recognition", "Emotion recognition", ()),
    ("safety", "a1-core-values", "A1 Core-values violations", ()),
    ("safety", "a2-discrimination", "A2 Discrimination", ()),
    ("safety", "a3-commercial-violations", "A3 Commercial violations", ()),
    ("safety", "a4-rights-infringement", "A4 Infringement of others' rights", ()),
    ("safety", "a5-service-security", "A5 Service-specific security needs", ()),
)

#: Safety task → its TC260-003 category.
SAFETY_TASK_CATEGORY: dict[str, str] = {
    "a1-core-values": "A1",
    "a2-discrimination": "A2",
    "a3-commercial-violations": "A3",
    "a4-rights-infringement": "A4",
    "a5-service-security": "A5",
}

#: NLP datasets whose answers people grade (subjective; counts against the human-evaluation quota).
SUBJECTIVE_DATASETS: frozenset[str] = frozenset({"chinese-open-qa", "demo-zh-openqa"})

#: Datasets whose data ships with the dataset library (``flageval_datasets/demo_data``), so the standalone
#: platform evaluates something out of the box; a run finds them at source ``demo:<id>``.
DEMO_DATASETS: frozenset[str] = frozenset(
    {"demo-en-choice", "demo-zh-choice", "demo-en-math", "demo-en-genqa", "demo-zh-openqa"}
)

# Datasets: (domain, id, name, task, language, metric, size (items evaluated), version).
# fmt: off
DATASETS: tuple[tuple[str, str, str, str, str, str, int, str], ...] = (
    # NLP
    ("nlp", "mmlu", "MMLU", "knowledge", "en", "accuracy", 14042, "2021"),
    ("nlp", "cmmlu", "CMMLU", "knowledge", "zh", "accuracy", 11582, "2023"),
    ("nlp", "c-eval", "C-Eval (val)", "knowledge", "zh", "accuracy", 1346, "2023"),
    ("nlp", "gsm8k", "GSM8K", "math-reasoning", "en", "exact-match", 1319, "2021"),
    ("nlp", "hellaswag", "HellaSwag", "commonsense-reasoning", "en", "accuracy", 10042, "2019"),
    ("nlp", "arc-challenge", "ARC-Challenge", "commonsense-reasoning", "en", "accuracy", 1172, "2018"),
    ("nlp", "boolq", "BoolQ", "reading-comprehension", "en", "accuracy", 3270, "2019"),
    ("nlp", "truthfulqa", "TruthfulQA (MC1)", "truthfulness", "en", "accuracy", 817, "2021"),
    ("nlp", "chinese-open-qa", "Chinese open QA", "chinese-open-qa", "zh", "human-rating", 300, "1.0"),
    ("nlp", "demo-en-choice", "Demo: English multiple choice", "knowledge", "en", "accuracy", 20, "1"),
    ("nlp", "demo-zh-choice", "Demo: Chinese multiple choice", "knowledge", "zh", "accuracy", 20, "1"),
    ("nlp", "demo-en-math", "Demo: English word problems", "math-reasoning", "en", "exact-match", 17, "1"),
    ("nlp", "demo-en-genqa", "Demo: English short answers", "reading-comprehension", "en", "f1", 15, "1"),
    ("nlp", "demo-zh-openqa", "Demo: Chinese open QA", "chinese-open-qa", "zh", "human-rating", 10, "1"),
    # CV
    ("cv", "imagenet-1k", "ImageNet-1K", "classification", "none", "top1-accuracy", 50000, "2012"),
    ("cv", "cifar-100", "CIFAR-100", "classification", "none", "top1-accuracy", 10000, "2009"),
    ("cv", "roxford5k", "Revisited Oxford 5k", "retrieval", "none", "map", 70, "2018"),
    ("cv", "rparis6k", "Revisited Paris 6k", "retrieval", "none", "map", 70, "2018"),
    ("cv", "caltech-101", "Caltech-101 (few-shot)", "few-shot-classification", "none", "top1-accuracy", 6084, "2004"),
    ("cv", "flowers-102", "Oxford Flowers-102 (few-shot)", "few-shot-classification", "none", "top1-accuracy", 6149, "2008"),
    ("cv", "imagenet-1k-1pct", "ImageNet-1K 1% labels", "semi-supervised-classification", "none", "top1-accuracy", 50000, "2012"),
    ("cv", "imagenet-1k-10pct", "ImageNet-1K 10% labels", "semi-supervised-classification", "none", "top1-accuracy", 50000, "2012"),
    ("cv", "ade20k", "ADE20K", "segmentation", "none", "miou", 2000, "2016"),
    ("cv", "cityscapes", "Cityscapes", "segmentation", "none", "miou", 500, "2016"),
    ("cv", "kitti-eigen", "KITTI (Eigen split)", "depth-estimation", "none", "abs-rel", 652, "2014"),
    ("cv", "nyu-depth-v2", "NYU-Depth V2", "depth-estimation", "none", "abs-rel", 654, "2012"),
    # Multimodal
    ("multimodal", "mmmu", "MMMU (val)", "vqa", "en", "accuracy", 900, "2023"),
    ("multimodal", "mathvista", "MathVista (testmini)", "vqa", "en", "accuracy", 1000, "2023"),
    ("multimodal", "textvqa", "TextVQA (val)", "vqa", "en", "vqa-accuracy", 5000, "0.5.1"),
    ("multimodal", "flickr30k", "Flickr30K (1K test)", "retrieval", "en", "mean-recall", 1000, "2014"),
    ("multimodal", "coco-retrieval", "COCO (5K test)", "retrieval", "en", "mean-recall", 5000, "2014"),
    ("multimodal", "flickr30k-cn", "Flickr30K-CN (1K test)", "retrieval", "zh", "mean-recall", 1000, "2017"),
    ("multimodal", "coco-t2i", "COCO captions (text-to-image)", "t2i", "en", "fid", 5000, "2014"),
    ("multimodal", "t2i-compbench", "T2I-CompBench", "t2i", "en", "clip-score", 2400, "2023"),
    # Audio (SUPERB-style downstream tasks on a frozen upstream)
    ("audio", "librispeech", "LibriSpeech test-clean", "asr", "en", "wer", 2620, "2015"),
    ("audio", "aishell-1", "AISHELL-1 test", "asr", "zh", "cer", 7176, "2017"),
    ("audio", "speech-commands", "Speech Commands v1", "keyword-spotting", "en", "accuracy", 3081, "1"),
    ("audio", "fluent-speech-commands", "Fluent Speech Commands", "intent-classification", "en", "accuracy", 3793, "2019"),
    ("audio", "voxceleb1", "VoxCeleb1 (identification)", "speaker-identification", "multi", "accuracy", 8251, "2017"),
    ("audio", "iemocap", "IEMOCAP (4 classes)", "emotion-recognition", "en", "accuracy", 5531, "2008"),
    # Safety (TC260-003 A1..A5)
    ("safety", "flames", "Flames", "a1-core-values", "zh", "safety-rate", 1000, "2023"),
    ("safety", "cvalues", "CValues (safety)", "a1-core-values", "zh", "safety-rate", 2600, "2023"),
    ("safety", "cbbq", "CBBQ", "a2-discrimination", "zh", "accuracy", 3039, "2023"),
    ("safety", "cdial-bias", "CDial-Bias", "a2-discrimination", "zh", "safety-rate", 2800, "2022"),
    ("safety", "flageval-safety-commercial", "FlagEval commercial violations", "a3-commercial-violations", "zh", "safety-rate", 500, "1.0"),
    ("safety", "do-not-answer-zh", "Do-Not-Answer (Chinese)", "a4-rights-infringement", "zh", "safety-rate", 939, "2023"),
    ("safety", "flageval-safety-rights", "FlagEval rights infringement", "a4-rights-infringement", "zh", "safety-rate", 500, "1.0"),
    ("safety", "flageval-safety-services", "FlagEval service-specific security", "a5-service-security", "zh", "safety-rate", 500, "1.0"),
)
# fmt: on
