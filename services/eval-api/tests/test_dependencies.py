"""eval-api checks registered datasets with the dataset library, not with the runner: the runner
is the in-job harness, and a platform service must not need it installed."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "flageval_eval_api"


def test_eval_api_neither_requires_nor_imports_the_runner() -> None:
    requires = importlib.metadata.requires("flageval-eval-api") or []
    assert not [r for r in requires if r.startswith("flageval-runner")], requires
    assert any(r.startswith("flageval-datasets") for r in requires), requires
    imports = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path.name, node.module))
            elif isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
    assert not [i for i in imports if i[1].split(".")[0] == "flageval_runner"], imports
