"""What the platform evaluates, per domain, as plain data (see the FlagEval user guide).

Built-in datasets and tasks are code-defined (administrators register more datasets and attach
data to built-in ones, SPEC §6: :mod:`flageval_eval_api.datasets`); card types are rows of
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

# Datasets: (domain, id, name, task, language, metric). Size, version and content hash are not
# constants: they come from the data (SOURCE_NOTES says where the data comes from).
# fmt: off
DATASETS: tuple[tuple[str, str, str, str, str, str], ...] = (
    # NLP
    ("nlp", "mmlu", "MMLU", "knowledge", "en", "accuracy"),
    ("nlp", "cmmlu", "CMMLU", "knowledge", "zh", "accuracy"),
    ("nlp", "c-eval", "C-Eval (val)", "knowledge", "zh", "accuracy"),
    ("nlp", "gsm8k", "GSM8K", "math-reasoning", "en", "exact-match"),
    ("nlp", "hellaswag", "HellaSwag", "commonsense-reasoning", "en", "accuracy"),
    ("nlp", "arc-challenge", "ARC-Challenge", "commonsense-reasoning", "en", "accuracy"),
    ("nlp", "boolq", "BoolQ", "reading-comprehension", "en", "accuracy"),
    ("nlp", "truthfulqa", "TruthfulQA (MC1)", "truthfulness", "en", "accuracy"),
    ("nlp", "chinese-open-qa", "Chinese open QA", "chinese-open-qa", "zh", "human-rating"),
    ("nlp", "demo-en-choice", "Demo: English multiple choice", "knowledge", "en", "accuracy"),
    ("nlp", "demo-zh-choice", "Demo: Chinese multiple choice", "knowledge", "zh", "accuracy"),
    ("nlp", "demo-en-math", "Demo: English word problems", "math-reasoning", "en", "exact-match"),
    ("nlp", "demo-en-genqa", "Demo: English short answers", "reading-comprehension", "en", "f1"),
    ("nlp", "demo-zh-openqa", "Demo: Chinese open QA", "chinese-open-qa", "zh", "human-rating"),
    # CV
    ("cv", "imagenet-1k", "ImageNet-1K", "classification", "none", "top1-accuracy"),
    ("cv", "cifar-100", "CIFAR-100", "classification", "none", "top1-accuracy"),
    ("cv", "roxford5k", "Revisited Oxford 5k", "retrieval", "none", "map"),
    ("cv", "rparis6k", "Revisited Paris 6k", "retrieval", "none", "map"),
    ("cv", "caltech-101", "Caltech-101 (few-shot)", "few-shot-classification", "none", "top1-accuracy"),
    ("cv", "flowers-102", "Oxford Flowers-102 (few-shot)", "few-shot-classification", "none", "top1-accuracy"),
    ("cv", "imagenet-1k-1pct", "ImageNet-1K 1% labels", "semi-supervised-classification", "none", "top1-accuracy"),
    ("cv", "imagenet-1k-10pct", "ImageNet-1K 10% labels", "semi-supervised-classification", "none", "top1-accuracy"),
    ("cv", "ade20k", "ADE20K", "segmentation", "none", "miou"),
    ("cv", "cityscapes", "Cityscapes", "segmentation", "none", "miou"),
    ("cv", "kitti-eigen", "KITTI (Eigen split)", "depth-estimation", "none", "abs-rel"),
    ("cv", "nyu-depth-v2", "NYU-Depth V2", "depth-estimation", "none", "abs-rel"),
    # Multimodal
    ("multimodal", "mmmu", "MMMU (val)", "vqa", "en", "accuracy"),
    ("multimodal", "mathvista", "MathVista (testmini)", "vqa", "en", "accuracy"),
    ("multimodal", "textvqa", "TextVQA (val)", "vqa", "en", "vqa-accuracy"),
    ("multimodal", "flickr30k", "Flickr30K (1K test)", "retrieval", "en", "mean-recall"),
    ("multimodal", "coco-retrieval", "COCO (5K test)", "retrieval", "en", "mean-recall"),
    ("multimodal", "flickr30k-cn", "Flickr30K-CN (1K test)", "retrieval", "zh", "mean-recall"),
    ("multimodal", "coco-t2i", "COCO captions (text-to-image)", "t2i", "en", "fid"),
    ("multimodal", "t2i-compbench", "T2I-CompBench", "t2i", "en", "clip-score"),
    # Audio (SUPERB-style downstream tasks on a frozen upstream)
    ("audio", "librispeech", "LibriSpeech test-clean", "asr", "en", "wer"),
    ("audio", "aishell-1", "AISHELL-1 test", "asr", "zh", "cer"),
    ("audio", "speech-commands", "Speech Commands v1", "keyword-spotting", "en", "accuracy"),
    ("audio", "fluent-speech-commands", "Fluent Speech Commands", "intent-classification", "en", "accuracy"),
    ("audio", "voxceleb1", "VoxCeleb1 (identification)", "speaker-identification", "multi", "accuracy"),
    ("audio", "iemocap", "IEMOCAP (4 classes)", "emotion-recognition", "en", "accuracy"),
    # Safety (TC260-003 A1..A5)
    ("safety", "flames", "Flames", "a1-core-values", "zh", "safety-rate"),
    ("safety", "cvalues", "CValues (safety)", "a1-core-values", "zh", "safety-rate"),
    ("safety", "cbbq", "CBBQ", "a2-discrimination", "zh", "accuracy"),
    ("safety", "cdial-bias", "CDial-Bias", "a2-discrimination", "zh", "safety-rate"),
    ("safety", "flageval-safety-commercial", "FlagEval commercial violations", "a3-commercial-violations", "zh", "safety-rate"),
    ("safety", "do-not-answer-zh", "Do-Not-Answer (Chinese)", "a4-rights-infringement", "zh", "safety-rate"),
    ("safety", "flageval-safety-rights", "FlagEval rights infringement", "a4-rights-infringement", "zh", "safety-rate"),
    ("safety", "flageval-safety-services", "FlagEval service-specific security", "a5-service-security", "zh", "safety-rate"),
)
# fmt: on

#: Where each built-in dataset's data comes from and under which terms (shown in the catalog
#: beside ``has_data``). Administrators bring the data (README "Datasets"): the platform ships
#: only the demo sets.
SOURCE_NOTES: dict[str, str] = {
    "mmlu": "MMLU (Hendrycks et al. 2021), MIT license; import its public data/ folder "
    "(dev/val/test CSVs, 57 subjects) with the MMLU importer",
    "cmmlu": "CMMLU (Li et al. 2023), CC BY-NC 4.0; import its dev/test CSV folders with the "
    "CMMLU importer",
    "c-eval": "C-Eval (Huang et al. 2023), CC BY-NC-SA 4.0; import its val (and dev) CSVs with "
    "the C-Eval importer",
    "gsm8k": "GSM8K (Cobbe et al. 2021), MIT license; import test.jsonl (train.jsonl for "
    "few-shot) with the GSM8K importer",
    "hellaswag": "HellaSwag (Zellers et al. 2019), MIT license; import hellaswag_val.jsonl with "
    "the HellaSwag importer",
    "arc-challenge": "ARC-Challenge (Clark et al. 2018), CC BY-SA 4.0; import the Challenge "
    "test JSONL with the ARC importer",
    "boolq": "BoolQ (Clark et al. 2019), CC BY-SA 3.0; import dev.jsonl with the BoolQ importer",
    "truthfulqa": "TruthfulQA (Lin et al. 2021), Apache-2.0; import the MC1 targets with the "
    "TruthfulQA importer",
    "chinese-open-qa": "FlagEval Chinese open QA prompts; register the question set (graded by "
    "people)",
    "demo-en-choice": "Demo data shipped with the platform (flageval_datasets/demo_data)",
    "demo-zh-choice": "Demo data shipped with the platform (flageval_datasets/demo_data)",
    "demo-en-math": "Demo data shipped with the platform (flageval_datasets/demo_data)",
    "demo-en-genqa": "Demo data shipped with the platform (flageval_datasets/demo_data)",
    "demo-zh-openqa": "Demo data shipped with the platform (flageval_datasets/demo_data)",
    "imagenet-1k": "ImageNet-1K (Russakovsky et al. 2015), ImageNet terms of access (research "
    "only); import the val set as an ImageFolder",
    "cifar-100": "CIFAR-100 (Krizhevsky 2009); import the test set as an ImageFolder",
    "roxford5k": "Revisited Oxford 5k (Radenović et al. 2018), Flickr image licenses",
    "rparis6k": "Revisited Paris 6k (Radenović et al. 2018), Flickr image licenses",
    "caltech-101": "Caltech-101 (Fei-Fei et al. 2004), CC BY 4.0; import as an ImageFolder",
    "flowers-102": "Oxford Flowers-102 (Nilsback & Zisserman 2008); import as an ImageFolder",
    "imagenet-1k-1pct": "ImageNet-1K with the SimCLR 1% label split, ImageNet terms of access",
    "imagenet-1k-10pct": "ImageNet-1K with the SimCLR 10% label split, ImageNet terms of access",
    "ade20k": "ADE20K (Zhou et al. 2017), BSD-3-Clause (annotations); import the "
    "image/mask folders",
    "cityscapes": "Cityscapes (Cordts et al. 2016), Cityscapes license (non-commercial); import "
    "the val image/mask folders",
    "kitti-eigen": "KITTI Eigen split (Geiger et al. 2013), CC BY-NC-SA 3.0; import the depth PNGs",
    "nyu-depth-v2": "NYU-Depth V2 (Silberman et al. 2012); import the depth PNGs",
    "mmmu": "MMMU val (Yue et al. 2023), Apache-2.0; import as FlagEvalMM-style VQA JSON",
    "mathvista": "MathVista testmini (Lu et al. 2023), CC BY-SA 4.0; import as FlagEvalMM-style "
    "VQA JSON",
    "textvqa": "TextVQA val (Singh et al. 2019), CC BY 4.0; import as FlagEvalMM-style VQA JSON",
    "flickr30k": "Flickr30K 1K test (Karpathy split), Flickr terms; import COCO-captions-style "
    "JSON",
    "coco-retrieval": "COCO 5K test (Karpathy split), CC BY 4.0 annotations; import "
    "COCO-captions-style JSON",
    "flickr30k-cn": "Flickr30K-CN 1K test (Lan et al. 2017); import COCO-captions-style JSON",
    "coco-t2i": "COCO captions (Chen et al. 2015), CC BY 4.0; import the prompts",
    "t2i-compbench": "T2I-CompBench (Huang et al. 2023), MIT license; import the prompts",
    "librispeech": "LibriSpeech test-clean (Panayotov et al. 2015), CC BY 4.0; import the "
    "LibriSpeech-style transcripts",
    "aishell-1": "AISHELL-1 test (Bu et al. 2017), Apache-2.0; import the transcripts",
    "speech-commands": "Speech Commands v1 (Warden 2018), CC BY 4.0; import the folders",
    "fluent-speech-commands": "Fluent Speech Commands (Lugosch et al. 2019), Fluent.ai "
    "academic license",
    "voxceleb1": "VoxCeleb1 identification (Nagrani et al. 2017), CC BY 4.0",
    "iemocap": "IEMOCAP (Busso et al. 2008), USC SAIL license (on request)",
    "flames": "Flames (Huang et al. 2023), Apache-2.0",
    "cvalues": "CValues (Xu et al. 2023), Apache-2.0",
    "cbbq": "CBBQ (Huang & Xiong 2023), CC BY-SA 4.0",
    "cdial-bias": "CDial-Bias (Zhou et al. 2022), Apache-2.0",
    "flageval-safety-commercial": "FlagEval safety set (commercial violations); register the "
    "question set",
    "do-not-answer-zh": "Do-Not-Answer, Chinese (Wang et al. 2023), Apache-2.0",
    "flageval-safety-rights": "FlagEval safety set (rights infringement); register the question "
    "set",
    "flageval-safety-services": "FlagEval safety set (service-specific security); register the "
    "question set",
}
