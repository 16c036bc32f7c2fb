"""Per-domain bundle layout checks (SPEC §2 Bundle), on in-memory bundles."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping

import pytest

from flageval_upload.bundles.layout import CV_TASKS, MAX_PARSED_BYTES, check_layout

MiB = 1024 * 1024

# A file given as an int is a large file of that size whose bytes must never be read.
Contents = Mapping[str, bytes | str | int]


class FakeStore:
    def __init__(self, contents: Contents) -> None:
        self.data: dict[str, bytes] = {}
        self.sizes: dict[str, int] = {}
        for path, content in contents.items():
            if isinstance(content, int):
                self.sizes[path] = content
            else:
                raw = content.encode() if isinstance(content, str) else content
                self.data[path] = raw
                self.sizes[path] = len(raw)
        self.reads: list[str] = []

    async def read(self, path: str) -> bytes:
        assert path in self.sizes, f"read a file that is not in the bundle: {path}"
        assert self.sizes[path] <= MAX_PARSED_BYTES, f"read a large file: {path}"
        assert path in self.data, f"read a file that is not meant to be read: {path}"
        self.reads.append(path)
        return self.data[path]


async def check(domain: str, contents: Contents) -> list[str]:
    store = FakeStore(contents)
    problems = await check_layout(domain, store.sizes, store.read)
    assert all(isinstance(p, str) and p for p in problems)
    return problems


async def one_problem(domain: str, contents: Contents, *phrases: str) -> str:
    problems = await check(domain, contents)
    assert len(problems) == 1, problems
    for phrase in phrases:
        assert phrase in problems[0], (phrase, problems[0])
    return problems[0]


# --------------------------------------------------------------------------------------------------
# Realistic small bundles

GUIDE_SERVICE = """\
from flageval.serving.service import NLPModelService, NLPEvalRequest, NLPEvalResponse, NLPCompletion


class Service(NLPModelService):
    def global_init(self, model_path: str):
        print("Initial model with path", model_path)

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        print(req)
        return NLPEvalResponse(
            completions=[
                NLPCompletion(
                    text='Hello, world!',
                    tokens='Hello, world!',
                ),
            ]
        )
"""

NLP_BUNDLE: dict[str, bytes | str | int] = {
    "service.py": GUIDE_SERVICE,
    "meta.json": '{"parameter_scale_billion": 7}\n',
    "local_guniconf.py": "workers = 4  # four worker processes\ntimeout = 600\n",
    "model/config.json": '{"architectures": ["LlamaForCausalLM"]}',
    "model/tokenizer.model": 500_000,
    "model/pytorch_model-00001-of-00002.bin": 9 * 1024 * MiB,
    "model/pytorch_model-00002-of-00002.bin": 4 * 1024 * MiB,
}

CV_META = {
    "model_name": "resnet_demo",
    "is_rgb": True,
    "output_channels": [256, 512, 1024, 2048],
    "output_dims": [4, 4, 4, 4],
    "mean": [123.675, 116.28, 103.53],
    "std": [58.395, 57.12, 57.375],
    "tasks": {
        "classification": {"train_batch_size": 128, "val_batch_size": 128, "out_indices": [3]},
        "segmentation": {"train_batch_size": 8, "val_batch_size": 8, "out_indices": [0, 1, 2, 3]},
        "semi_supervised_classification": {
            "train_batch_size": 32,
            "val_batch_size": 128,
            "out_indices": [3],
        },
        "retrieval": {"out_indices": [3]},
        "few_shot_classification": {"out_indices": [3]},
        "depth_estimation": {"train_batch_size": 4, "out_indices": [0, 1, 2, 3]},
    },
}

# The guide's meta.json, copied as printed: explanatory `#` comments and a trailing comma.
CV_META_AS_IN_GUIDE = """\
{
"model_name": "resnet_demo",
"is_rgb": true,
"output_channels": [256, 512, 1024, 2048], # backbone 输出feature的channel数
"output_dims": [4, 4, 4, 4], # backbone 输出feature的channel维度
"mean": [123.675, 116.28, 103.53],
"std": [58.395, 57.12, 57.375],
"tasks": {
  "classification": {
    "train_batch_size": 128,
    "val_batch_size": 128,
    "out_indices": [3],
  }
}
}
"""

GUIDE_MODEL_ADAPTER = """\
import os
import sys

# current_dir 为model_adapter.py所在的路径
current_dir = os.path.dirname(os.path.abspath(__file__))
sys.path.append(current_dir)
from model.user_model import get_model  # noqa E402


class ModelAdapter:
    def model_init(self, checkpoint_path):
        model = get_model()
        # init weights form checkpoint path
        return model
"""

CV_BUNDLE: dict[str, bytes | str | int] = {
    "meta.json": json.dumps(CV_META, indent=2),
    "model_adapter.py": GUIDE_MODEL_ADAPTER,
    "model/__init__.py": "",
    "model/user_model.py": "def get_model():\n    import torchvision\n    return torchvision.models.resnet50()\n",
    "model/checkpoint.pth": 98 * MiB,
}

MM_BUNDLE: dict[str, bytes | str | int] = {
    "checkpoint.pth": 3 * 1024 * MiB,
    "run.sh": '#!/bin/bash\nset -e\npython main.py --task "$1" --server_ip "$2" --server_port "$3"\n',
    "main.py": "import requests\n",
    "configs/model.yaml": "name: demo\n",
}

AUDIO_BUNDLE: dict[str, bytes | str | int] = {
    "model.py": """\
from dataclasses import dataclass, field
from typing import Optional

import torch.nn as nn


@dataclass
class ExamplePretrainingConfig:
    sample_rate: int = field(default=16_000, metadata={"help": "target sample rate"})
    max_sample_size: Optional[int] = field(default=None)


@dataclass
class ExampleConfig:
    encoder_layers: int = field(default=12, metadata={"help": "num encoder layers"})


class ExampleModel(nn.Module):
    def __init__(self, config):
        super().__init__()

    def forward(self, wavs, padding_mask):
        return wavs, padding_mask
""",
    "convert.py": """\
import torch

from model import ExampleConfig, ExampleModel, ExamplePretrainingConfig


def load_converted_model(ckpt: str):
    ckpt_state = torch.load(ckpt, map_location="cpu")
    for required_key in ["task_cfg", "model_cfg", "model_weight"]:
        if required_key not in ckpt_state:
            raise ValueError(f"{ckpt} is not a valid checkpoint: {required_key} is missing")
    model = ExampleModel(ExampleConfig(**ckpt_state["model_cfg"]))
    model.load_state_dict(ckpt_state["model_weight"])
    return model, ExamplePretrainingConfig(**ckpt_state["task_cfg"])
""",
    "ModelWrapper.py": """\
import torch.nn as nn

from convert import load_converted_model


class MyModel(nn.Module):
    def __init__(self, load_type, **kwargs):
        super().__init__()
        self.model, self.task_cfg = load_converted_model(kwargs["ckpt"])

    def forward(self, wavs, padding_mask=None):
        return self.model(wavs, padding_mask)

    def get_output_dim(self):
        return 768
""",
    "example.pt": 300 * MiB,
}


def nlp(**files: bytes | str | int | None) -> Contents:
    out = dict(NLP_BUNDLE)
    for path, value in files.items():
        out.pop(path, None)
        if value is not None:
            out[path] = value
    return out


def replace(base: Contents, files: Mapping[str, bytes | str | int | None]) -> Contents:
    out = dict(base)
    for path, value in files.items():
        out.pop(path, None)
        if value is not None:
            out[path] = value
    return out


def cv_meta(**changes: object) -> str:
    meta = json.loads(json.dumps(CV_META))
    for key, value in changes.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    return json.dumps(meta)


_DROP = object()


# --------------------------------------------------------------------------------------------------
# Valid bundles


async def test_valid_bundles_have_no_problems() -> None:
    assert await check("nlp", NLP_BUNDLE) == []
    assert await check("cv", CV_BUNDLE) == []
    assert await check("multimodal", MM_BUNDLE) == []
    assert await check("audio", AUDIO_BUNDLE) == []


async def test_only_small_files_are_read() -> None:
    store = FakeStore(NLP_BUNDLE)
    assert await check_layout("nlp", store.sizes, store.read) == []
    assert sorted(store.reads) == ["local_guniconf.py", "meta.json", "service.py"]
    store = FakeStore(MM_BUNDLE)
    assert await check_layout("multimodal", store.sizes, store.read) == []
    assert store.reads == ["run.sh"]


async def test_optional_parts_may_be_left_out() -> None:
    assert await check("nlp", replace(NLP_BUNDLE, {"local_guniconf.py": None})) == []
    # train/val batch sizes are optional (the platform has defaults), as the guide says.
    tasks = {"classification": {"out_indices": [3]}}
    assert await check("cv", replace(CV_BUNDLE, {"meta.json": cv_meta(tasks=tasks)})) == []
    # Windows-style BOM in front of the JSON is fine.
    bom = b"\xef\xbb\xbf" + b'{"parameter_scale_billion": 0.5}'
    assert await check("nlp", replace(NLP_BUNDLE, {"meta.json": bom})) == []


async def test_unknown_domain_safety_and_empty_upload() -> None:
    await one_problem("speech", NLP_BUNDLE, "Unknown evaluation domain", "'speech'", "nlp, cv")
    await one_problem("safety", {"service.py": GUIDE_SERVICE}, "API", "nothing to upload")
    await one_problem("safety", {}, "nothing to upload")
    await one_problem("nlp", {}, "contains no files")


# --------------------------------------------------------------------------------------------------
# NLP service.py: the static check agrees with the real flageval-serving package

SERVICE_BODY = """
    def global_init(self, model_path):
        self.path = model_path

    def infer(self, req):
        return None
"""

VALID_SERVICES = {
    "guide": GUIDE_SERVICE,
    "module alias": "import flageval.serving.service as fs\n\n\nclass Service(fs.NLPModelService):"
    + SERVICE_BODY,
    "package import": "from flageval.serving import service as svc\n\n\n"
    "class Service(svc.NLPModelService):" + SERVICE_BODY,
    "dotted path": "import flageval.serving.service\n\n\n"
    "class Service(flageval.serving.service.NLPModelService):" + SERVICE_BODY,
    "aliased base": "from flageval.serving.service import NLPModelService as Base\n\n\n"
    "class Service(Base):" + SERVICE_BODY,
    "nlp module": "from flageval.serving.service.nlp import NLPModelService\n\n\n"
    "class Service(NLPModelService):" + SERVICE_BODY,
    "star import": "from flageval.serving.service import *  # noqa\n\n\n"
    "class Service(NLPModelService):" + SERVICE_BODY,
    "intermediate base": """\
from flageval.serving.service import NLPModelService


class Base(NLPModelService):
    def global_init(self, model_path):
        self.path = model_path


class Service(Base):
    def infer(self, req):
        return None
""",
    "assigned name": "from flageval.serving.service import NLPModelService\n\n\n"
    "class LlamaService(NLPModelService):" + SERVICE_BODY + "\n\nService = LlamaService\n",
    "mixin and base": "from flageval.serving.service import NLPModelService\n\n\n"
    "class Mixin:\n    pass\n\n\nclass Service(Mixin, NLPModelService, object):" + SERVICE_BODY,
}


def _exec_service(source: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": "user_service"}
    exec(compile(source, "service.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("source", VALID_SERVICES.values(), ids=VALID_SERVICES.keys())
async def test_valid_service_really_defines_a_service(source: str) -> None:
    from flageval.serving.service import NLPModelService

    assert await check("nlp", nlp(**{"service.py": source})) == []
    namespace = _exec_service(source)
    service = namespace["Service"]
    assert isinstance(service, type) and issubclass(service, NLPModelService)
    service()  # all abstract methods are implemented: the CLI can instantiate it


INVALID_SERVICES = {
    "no base": ("class Service:" + SERVICE_BODY, ["does not derive from `NLPModelService`"]),
    "object base": ("class Service(object):" + SERVICE_BODY, ["does not derive"]),
    "look-alike base": (
        "class NLPModelService:\n    pass\n\n\nclass Service(NLPModelService):" + SERVICE_BODY,
        ["does not derive", "from flageval.serving.service import NLPModelService"],
    ),
    "other name": (
        "from flageval.serving.service import NLPModelService\n\n\n"
        "class DemoService(NLPModelService):" + SERVICE_BODY,
        [
            "does not define a class named `Service`",
            "`DemoService(NLPModelService)`",
            "Service = DemoService",
        ],
    ),
    "function": (
        "def Service():\n    return None\n",
        ["`Service` is not a class that derives"],
    ),
}


@pytest.mark.parametrize(
    ("source", "phrases"), INVALID_SERVICES.values(), ids=INVALID_SERVICES.keys()
)
async def test_invalid_service_is_reported(source: str, phrases: list[str]) -> None:
    from flageval.serving.service import NLPModelService

    problem = await one_problem("nlp", nlp(**{"service.py": source}), "service.py", *phrases)
    assert problem.startswith(("`service.py`", "In `service.py`"))
    namespace = _exec_service(source)
    service = namespace.get("Service")
    assert not (isinstance(service, type) and issubclass(service, NLPModelService))


async def test_service_missing_abstract_methods() -> None:
    from flageval.serving.service import NLPModelService

    source = (
        "from flageval.serving.service import NLPModelService\n\n\n"
        "class Service(NLPModelService):\n    def global_init(self, model_path):\n        pass\n"
    )
    await one_problem(
        "nlp", nlp(**{"service.py": source}), "service.py", "does not implement `infer`"
    )
    service = _exec_service(source)["Service"]
    assert isinstance(service, type) and issubclass(service, NLPModelService)
    with pytest.raises(TypeError):
        service()  # what the CLI would hit at start


async def test_service_from_another_module_of_the_bundle() -> None:
    impl = (
        "from flageval.serving.service import NLPModelService\n\n\nclass Service(NLPModelService):"
    )
    files = nlp(
        **{
            "service.py": "from impl.chat import Service  # noqa: F401\n",
            "impl/__init__.py": "",
            "impl/chat.py": impl + SERVICE_BODY,
        }
    )
    assert await check("nlp", files) == []
    # A relative module path through a package also works.
    files = nlp(
        **{
            "service.py": "import impl.chat\n\nService = impl.chat.Service\n",
            "impl/chat.py": "from .base import Base as Service\n",
            "impl/base.py": impl.replace("Service(", "Base(") + SERVICE_BODY,
        }
    )
    assert await check("nlp", files) == []


async def test_service_imported_from_a_broken_or_absent_module() -> None:
    files = nlp(**{"service.py": "from impl import Service\n", "impl.py": "class Service(:\n"})
    await one_problem(
        "nlp", files, "is not a class that derives", "Could not check an imported file", "`impl.py`"
    )
    files = nlp(**{"service.py": "from my_serving_lib import Service\n"})
    await one_problem("nlp", files, "imported from `my_serving_lib`", "not part of the upload")


async def test_service_py_syntax_error_names_the_line() -> None:
    source = GUIDE_SERVICE.replace("def infer(self, req", "def infer(self req")
    await one_problem("nlp", nlp(**{"service.py": source}), "`service.py` line 8", "syntax")


async def test_service_py_binary_junk_and_bad_utf8() -> None:
    await one_problem(
        "nlp", nlp(**{"service.py": b"\x7fELF\x02\x01\x01\x00" * 40}), "`service.py`", "binary data"
    )
    latin1 = GUIDE_SERVICE.replace("Hello, world!", "Olá").encode("latin-1")
    await one_problem("nlp", nlp(**{"service.py": latin1}), "`service.py`", "not UTF-8", "line 13")


async def test_service_py_too_large_is_not_read() -> None:
    await one_problem("nlp", nlp(**{"service.py": 2 * MiB}), "`service.py`", "2.0 MiB", "1.0 MiB")


async def test_service_py_missing_or_misplaced() -> None:
    await one_problem(
        "nlp", nlp(**{"service.py": None}), "`service.py` is missing", "class Service"
    )
    await one_problem(
        "nlp",
        nlp(**{"service.py": None, "Service.py": GUIDE_SERVICE}),
        "`service.py` is missing",
        "Found `Service.py`",
        "case-sensitive",
    )
    await one_problem(
        "nlp",
        nlp(**{"service.py": None, "src/service.py": GUIDE_SERVICE}),
        "`service.py` is missing",
        "Found `src/service.py`",
    )


# --------------------------------------------------------------------------------------------------
# NLP meta.json, local_guniconf.py and model/


@pytest.mark.parametrize(
    ("meta", "phrases"),
    [
        (None, ["`meta.json` is missing", "parameter_scale_billion"]),
        (
            '{\n"parameter_scale_billion": 7 // 模型参数规模(单位十亿)\n}',
            ["`meta.json` is not valid JSON", "line 2", "comments"],
        ),
        ('{"parameter_scale_billion": 7,}', ["not valid JSON", "comma after the last item"]),
        ("{'parameter_scale_billion': 7}", ["not valid JSON", "double quotes"]),
        ("[7]", ["must contain a JSON object", "a list"]),
        ("", ["`meta.json` is empty"]),
        ("{}", ["`meta.json` has no `parameter_scale_billion`"]),
        ('{"params": 7}', ["has no `parameter_scale_billion`"]),
        ('{"parameter_scale_billion": "7"}', ["must be a number", "without quotes"]),
        ('{"parameter_scale_billion": true}', ["must be a number", "true/false"]),
        ('{"parameter_scale_billion": null}', ["must be a number", "null"]),
        ('{"parameter_scale_billion": NaN}', ["must be a number"]),
        ('{"parameter_scale_billion": 0}', ["must be greater than 0"]),
        ('{"parameter_scale_billion": -7}', ["must be greater than 0", "-7"]),
        (b'{"parameter_scale_billion": 7, "name": "\xff"}', ["not UTF-8", "line 1"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["`meta.json` is not UTF-8"]),
        ("[" * 200_000 + "]" * 200_000, ["`meta.json` could not be read as JSON"]),
        (2 * MiB, ["`meta.json` is 2.0 MiB"]),
    ],
    ids=lambda v: None if isinstance(v, list) else str(v)[:30],
)
async def test_nlp_meta_json(meta: bytes | str | int | None, phrases: list[str]) -> None:
    problem = await one_problem("nlp", nlp(**{"meta.json": meta}), "meta.json", *phrases)
    assert "`meta.json`" in problem


@pytest.mark.parametrize(
    ("conf", "phrases"),
    [
        ("workers = 0\n", ["`local_guniconf.py` line 1", "`workers = 0`", "workers = 4"]),
        ('timeout = 600\nworkers = "4"\n', ["line 2", "whole number"]),
        (
            "import multiprocessing\nworkers = multiprocessing.cpu_count()\n",
            ["line 2", "whole number", "cpu_count"],
        ),
        ("workers = True\n", ["whole number"]),
        ("workers = 2.5\n", ["whole number"]),
        ("workers: int = -1\n", ["whole number"]),
        ("workers = 2\nworkers += 2\n", ["line 2", "workers += 2"]),
        ("workers = = 4\n", ["`local_guniconf.py` line 1", "syntax"]),
        (b"workers = 4\x00\n", ["`local_guniconf.py`", "binary data"]),
        (3 * MiB, ["`local_guniconf.py` is 3.0 MiB"]),
    ],
)
async def test_local_guniconf(conf: bytes | str | int, phrases: list[str]) -> None:
    await one_problem("nlp", nlp(**{"local_guniconf.py": conf}), *phrases)


async def test_local_guniconf_accepts_other_settings_and_branches() -> None:
    conf = "import os\n\nif os.environ.get('BIG'):\n    workers = 8\nelse:\n    workers = 2\n"
    assert await check("nlp", nlp(**{"local_guniconf.py": conf})) == []
    assert await check("nlp", nlp(**{"local_guniconf.py": "timeout = 900\n"})) == []


async def test_model_folder() -> None:
    without = {p: None for p in NLP_BUNDLE if p.startswith("model/")}
    await one_problem(
        "nlp", replace(NLP_BUNDLE, without), "`model/` folder is missing", "run model"
    )
    await one_problem(
        "nlp",
        replace(NLP_BUNDLE, {**without, "models/config.json": "{}"}),
        "`model/` folder",
        "Found `models/`",
    )


async def test_nlp_problems_come_in_rule_order() -> None:
    files = {
        "service.py": "class Service:\n    pass\n",
        "meta.json": "{}",
        "local_guniconf.py": "workers = 0\n",
        "README.md": "hi",
    }
    problems = await check("nlp", files)
    assert len(problems) == 4
    assert "`Service` does not derive" in problems[0]
    assert "`parameter_scale_billion`" in problems[1]
    assert "`workers`" in problems[2]
    assert "`model/`" in problems[3]


# --------------------------------------------------------------------------------------------------
# The folder hint


@pytest.mark.parametrize(
    ("domain", "bundle", "folder"),
    [
        ("nlp", NLP_BUNDLE, "demo"),
        ("cv", CV_BUNDLE, "resnet_demo"),
        ("multimodal", MM_BUNDLE, "example_model"),
        ("audio", AUDIO_BUNDLE, "upstream/example_model"),
    ],
)
async def test_files_inside_one_folder(domain: str, bundle: Contents, folder: str) -> None:
    nested = {f"{folder}/{path}": content for path, content in bundle.items()}
    nested[".DS_Store"] = b"\x00\x00\x00\x01Bud1"
    problem = await one_problem(domain, nested, f"inside the folder `{folder}/`", "upload")
    assert f"flageval-serving upload --token=… {folder}" in problem


async def test_no_folder_hint_when_two_folders_look_like_bundles() -> None:
    files = {f"a/{p}": c for p, c in NLP_BUNDLE.items()} | {
        f"b/{p}": c for p, c in NLP_BUNDLE.items()
    }
    problems = await check("nlp", files)
    assert not any("inside the folder" in p for p in problems)
    assert "`service.py` is missing" in problems[0] and "Found `a/service.py`" in problems[0]


# --------------------------------------------------------------------------------------------------
# CV


async def test_cv_meta_copied_from_the_guide_with_comments() -> None:
    problem = await one_problem(
        "cv",
        replace(CV_BUNDLE, {"meta.json": CV_META_AS_IN_GUIDE}),
        "`meta.json`",
        "not valid JSON",
    )
    assert "comments" in problem and "comma after the last item" in problem


@pytest.mark.parametrize("key", list(CV_META))
async def test_cv_meta_missing_key(key: str) -> None:
    await one_problem(
        "cv", replace(CV_BUNDLE, {"meta.json": cv_meta(**{key: _DROP})}), f"has no `{key}`"
    )


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("model_name", "  ", "non-empty string"),
        ("model_name", 3, "non-empty string"),
        ("is_rgb", "true", "true or false"),
        ("is_rgb", 1, "true or false"),
        ("output_channels", 2048, "non-empty list"),
        ("output_channels", [], "non-empty list"),
        ("output_channels", [256, 0], "channel count"),
        ("output_channels", [256.0, 512], "channel count"),
        ("output_dims", [4, 4, 4, 5], "3 or 4"),
        ("output_dims", "4", "3 or 4"),
        ("mean", [123.675, 116.28], "list of 3 numbers"),
        ("mean", [1, 2, "3"], "list of 3 numbers"),
        ("std", [58.395, 0, 57.375], "greater than 0"),
        ("std", [58.395, 57.12, 57.375, 1], "list of 3 numbers"),
        ("tasks", {}, "one entry per task"),
        ("tasks", ["classification"], "one entry per task"),
    ],
)
async def test_cv_meta_wrong_type(key: str, value: object, phrase: str) -> None:
    problem = await one_problem(
        "cv", replace(CV_BUNDLE, {"meta.json": cv_meta(**{key: value})}), f"`{key}`", phrase
    )
    assert problem.startswith("`meta.json`:")


@pytest.mark.parametrize(
    ("task", "settings", "phrases"),
    [
        ("detection", {"out_indices": [3]}, ["unknown task `detection`", "classification"]),
        ("classification", [3], ["`tasks.classification` must be an object"]),
        (
            "classification",
            {"train_batch_size": 0, "out_indices": [3]},
            ["`tasks.classification.train_batch_size`", "greater than 0"],
        ),
        (
            "classification",
            {"val_batch_size": "8", "out_indices": [3]},
            ["`tasks.classification.val_batch_size`", "whole number"],
        ),
        ("retrieval", {"train_batch_size": 8}, ["`tasks.retrieval` has no `out_indices`"]),
        ("retrieval", {"out_indices": []}, ["`tasks.retrieval.out_indices`", "non-empty list"]),
        ("retrieval", {"out_indices": 3}, ["`tasks.retrieval.out_indices`", "non-empty list"]),
        ("classification", {"out_indices": [4]}, ["feature map(s) [4]", "numbered 0 to 3"]),
        ("classification", {"out_indices": [-1]}, ["feature map(s) [-1]"]),
    ],
)
async def test_cv_meta_tasks(task: str, settings: object, phrases: list[str]) -> None:
    meta = cv_meta(tasks={task: settings})
    await one_problem("cv", replace(CV_BUNDLE, {"meta.json": meta}), "`meta.json`", *phrases)


async def test_cv_meta_feature_maps_agree() -> None:
    meta = cv_meta(output_dims=[4, 4, 4])
    await one_problem(
        "cv", replace(CV_BUNDLE, {"meta.json": meta}), "lists 4 feature map(s)", "lists 3"
    )
    # Segmentation only supports 4-dimensional feature maps (the guide: 分割只支持output_dims为4).
    meta = cv_meta(output_dims=[3, 3, 3, 3], tasks={"segmentation": {"out_indices": [0, 1, 2, 3]}})
    await one_problem(
        "cv", replace(CV_BUNDLE, {"meta.json": meta}), "segmentation", "[0, 1, 2, 3]", "not 4"
    )
    meta = cv_meta(output_dims=[3, 3, 3, 3], tasks={"classification": {"out_indices": [3]}})
    assert await check("cv", replace(CV_BUNDLE, {"meta.json": meta})) == []


async def test_cv_meta_several_problems_in_key_order() -> None:
    meta = cv_meta(is_rgb="yes", std=[0, 0, 0], tasks={"detection": {}})
    problems = await check("cv", replace(CV_BUNDLE, {"meta.json": meta}))
    assert ["is_rgb" in problems[0], "std" in problems[1], "detection" in problems[2]] == [
        True,
        True,
        True,
    ]
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("adapter", "phrases"),
    [
        (None, ["`model_adapter.py` is missing", "ModelAdapter().model_init(checkpoint_path)"]),
        ("class Adapter:\n    pass\n", ["does not define a class named `ModelAdapter`"]),
        ("class ModelAdapter:\n    def init(self, path):\n        pass\n", ["no `model_init`"]),
        (
            "class ModelAdapter:\n    def model_init(self):\n        pass\n",
            ["must take the checkpoint path", "takes no argument", "def model_init(self)"],
        ),
        (
            "class ModelAdapter:\n    def model_init(self, checkpoint_path, cfg):\n        pass\n",
            ["must take the checkpoint path", "also requires `cfg`"],
        ),
        (
            "class ModelAdapter:\n    def __init__(self, cfg):\n        self.cfg = cfg\n\n"
            "    def model_init(self, checkpoint_path):\n        pass\n",
            ["creatable without arguments", "`cfg`"],
        ),
        ("from mmpretrain_adapters import ModelAdapter\n", ["imported from `mmpretrain_adapters`"]),
        ("class ModelAdapter:\n  def model_init(self, checkpoint_path)\n", ["line 2", "syntax"]),
        (b"\x00\x01\x02junk", ["`model_adapter.py`", "binary data"]),
    ],
)
async def test_cv_model_adapter(adapter: bytes | str | None, phrases: list[str]) -> None:
    files = replace(CV_BUNDLE, {"model_adapter.py": adapter})
    await one_problem("cv", files, "model_adapter.py", *phrases)


@pytest.mark.parametrize(
    "adapter",
    [
        "class ModelAdapter:\n    @staticmethod\n    def model_init(checkpoint_path):\n        pass\n",
        "class ModelAdapter:\n    def model_init(self, *args, strict=False):\n        pass\n",
        "class ModelAdapter:\n    def __init__(self, device='cuda'):\n        pass\n\n"
        "    def model_init(self, path, *, fuse=True):\n        pass\n",
        "from model.adapter_impl import Impl as ModelAdapter  # noqa: F401\n",
        "class Base:\n    def model_init(self, checkpoint_path):\n        pass\n\n\n"
        "class ModelAdapter(Base):\n    pass\n",
    ],
)
async def test_cv_model_adapter_variants(adapter: str) -> None:
    impl = "class Impl:\n    def model_init(self, checkpoint_path):\n        return None\n"
    files = replace(CV_BUNDLE, {"model_adapter.py": adapter, "model/adapter_impl.py": impl})
    assert await check("cv", files) == []


@pytest.mark.parametrize(
    ("checkpoint", "phrases"),
    [
        ({}, ["`model/checkpoint.pth` is missing", "exactly"]),
        ({"model/Checkpoint.pth": 10}, ["Found `model/Checkpoint.pth`"]),
        ({"checkpoint.pth": 10}, ["Found `checkpoint.pth`"]),
        ({"model/resnet50_8xb32_in1k.pth": 10}, ["Found `model/resnet50_8xb32_in1k.pth`"]),
    ],
)
async def test_cv_checkpoint(checkpoint: dict[str, int], phrases: list[str]) -> None:
    files = replace(CV_BUNDLE, {"model/checkpoint.pth": None, **checkpoint})
    await one_problem("cv", files, "model/checkpoint.pth", *phrases)


# --------------------------------------------------------------------------------------------------
# Multimodal


@pytest.mark.parametrize(
    ("changes", "phrases"),
    [
        ({"checkpoint.pth": None}, ["`checkpoint.pth` is missing"]),
        (
            {"checkpoint.pth": None, "weights/checkpoint.pth": 100},
            ["`checkpoint.pth` is missing", "Found `weights/checkpoint.pth`"],
        ),
        ({"run.sh": None}, ["`run.sh` is missing", "bash run.sh TASK SERVER_IP SERVER_PORT"]),
        ({"run.sh": None, "Run.sh": "python main.py"}, ["Found `Run.sh`"]),
        ({"run.sh": ""}, ["`run.sh` is empty"]),
        ({"run.sh": "#!/bin/bash\n\n# TODO\n"}, ["`run.sh` contains no commands"]),
        ({"run.sh": "#!/bin/bash\r\npython main.py $1 $2 $3\r\n"}, ["`run.sh`", "CRLF"]),
        ({"run.sh": b"\x7fELF\x02\x01\x01\x00\x00"}, ["`run.sh`", "binary data"]),
    ],
)
async def test_multimodal(changes: dict[str, str | bytes | int | None], phrases: list[str]) -> None:
    await one_problem("multimodal", replace(MM_BUNDLE, changes), *phrases)


async def test_multimodal_large_run_sh_is_not_read() -> None:
    assert await check("multimodal", replace(MM_BUNDLE, {"run.sh": 2 * MiB})) == []


# --------------------------------------------------------------------------------------------------
# Audio


@pytest.mark.parametrize("name", ["model.py", "convert.py", "ModelWrapper.py"])
async def test_audio_missing_file(name: str) -> None:
    await one_problem("audio", replace(AUDIO_BUNDLE, {name: None}), f"`{name}` is missing")


async def test_audio_file_problems() -> None:
    await one_problem(
        "audio",
        replace(AUDIO_BUNDLE, {"ModelWrapper.py": None, "modelwrapper.py": "x = 1\n"}),
        "`ModelWrapper.py` is missing",
        "Found `modelwrapper.py`",
    )
    await one_problem(
        "audio",
        replace(AUDIO_BUNDLE, {"convert.py": "def load_converted_model(ckpt:\n"}),
        "`convert.py` line 1",
    )
    await one_problem(
        "audio", replace(AUDIO_BUNDLE, {"model.py": b"PK\x03\x04\x00\x00"}), "`model.py`", "binary"
    )
    problems = await check("audio", {"model.py": "x = (", "notes.txt": "hi"})
    assert len(problems) == 3
    assert "`model.py` line 1" in problems[0]
    assert "`convert.py` is missing" in problems[1]
    assert "`ModelWrapper.py` is missing" in problems[2]


# --------------------------------------------------------------------------------------------------
# Robustness


def _junk(rng: random.Random, original: bytes | str | int) -> bytes:
    """Random bytes, random JSON/Python-ish text, or a valid file cut and mutated."""
    n = rng.choice([0, 1, 7, 300, 5000])
    kind = rng.randrange(3)
    if kind == 0:
        return bytes(rng.getrandbits(8) for _ in range(n))
    if kind == 1:
        alphabet = "{}[]\":,.0123456789eE-+ \n\tabc#/'\\()=:"
        return "".join(rng.choice(alphabet) for _ in range(n)).encode()
    data = bytearray(original.encode() if isinstance(original, str) else b"x" * 10)
    for _ in range(rng.randint(1, 5)):
        if data:
            i = rng.randrange(len(data))
            data[i : i + rng.randint(1, 3)] = bytes([rng.getrandbits(8)])
    return bytes(data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data)


async def test_junk_never_raises() -> None:
    rng = random.Random(20240601)
    readable = {
        "nlp": ["service.py", "meta.json", "local_guniconf.py"],
        "cv": ["meta.json", "model_adapter.py", "model/user_model.py"],
        "multimodal": ["run.sh"],
        "audio": ["model.py", "convert.py", "ModelWrapper.py"],
    }
    bases = {"nlp": NLP_BUNDLE, "cv": CV_BUNDLE, "multimodal": MM_BUNDLE, "audio": AUDIO_BUNDLE}
    for _ in range(60):
        for domain, paths in readable.items():
            junk: dict[str, bytes | str | int | None] = {}
            for path in paths:
                junk[path] = _junk(rng, bases[domain].get(path, b""))
            problems = await check(domain, replace(bases[domain], junk))
            assert isinstance(problems, list)


async def test_cv_meta_values_of_every_type_never_raise() -> None:
    odd: list[object] = [None, True, 0, -1, 1e308, "x", "", [], {}, [None], [True], {"a": 1}]
    odd += [[1, 2, 3], [0.5, "a", None], {"out_indices": [True]}, {"out_indices": None}]
    for key in CV_META:
        for value in odd:
            problems = await check("cv", replace(CV_BUNDLE, {"meta.json": cv_meta(**{key: value})}))
            valid = (key, value) in [
                ("model_name", "x"),
                ("is_rgb", True),
                ("mean", [1, 2, 3]),
                ("std", [1, 2, 3]),
            ]
            assert bool(problems) != valid, (key, value, problems)
    for task in CV_TASKS:
        for value in odd:
            meta = cv_meta(tasks={task: {"out_indices": value, "train_batch_size": value}})
            await check("cv", replace(CV_BUNDLE, {"meta.json": meta}))


async def test_deeply_nested_python_is_a_problem() -> None:
    source = "x = " + "(" * 5000 + ")" * 5000 + "\n"
    await one_problem("nlp", nlp(**{"local_guniconf.py": source}), "`local_guniconf.py`")


async def test_pathological_sources_are_bounded() -> None:
    chain = "".join(f"A{i + 1} = A{i}\n" for i in range(3000))
    source = "class A0:\n    pass\n\n" + chain + "Service = A3000\n"
    await one_problem("nlp", nlp(**{"service.py": source}), "`Service` is not a class")
    dotted = "class Service(" + ".".join(["m"] * 150) + "):\n    pass\n"
    await one_problem("nlp", nlp(**{"service.py": dotted}), "does not derive")
    sums = "workers = " + "+".join(["1"] * 150) + "\n"
    await one_problem("nlp", nlp(**{"local_guniconf.py": sums}), "line 1", "whole number")
    digits = '{"parameter_scale_billion": ' + "7" * 5000 + "}"
    await one_problem("nlp", nlp(**{"meta.json": digits}), "`meta.json`", "too many digits")


async def test_import_cycles_terminate() -> None:
    files = nlp(
        **{
            "service.py": "from a import Service\n",
            "a.py": "from b import Service\n",
            "b.py": "from a import Service\n",
        }
    )
    await one_problem("nlp", files, "`Service` is not a class that derives")


async def test_storage_errors_propagate() -> None:
    async def broken(path: str) -> bytes:
        raise OSError("object store unavailable")

    files = {"service.py": 10, "meta.json": 10, "model/x": 1}
    with pytest.raises(OSError, match="object store"):
        await check_layout("nlp", files, broken)


def test_cv_task_names_match_the_guide() -> None:
    # The three names the guide's example uses, plus the other CV tasks it lists.
    assert set(CV_TASKS) >= {"classification", "segmentation", "semi_supervised_classification"}
