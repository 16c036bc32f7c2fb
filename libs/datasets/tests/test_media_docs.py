"""docs/datasets.md: every worked example (card + two manifest lines) is a valid media dataset,
and there is one for every kind."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flageval_datasets.media import FileInfo, MediaKind, parse_manifest

DOC = Path(__file__).resolve().parents[3] / "docs" / "datasets.md"
EXAMPLE_RE = re.compile(r"^### (\w+)\n.*?```json\n(.*?)```\n\n```jsonl\n(.*?)```", re.M | re.S)


def test_docs_have_one_valid_example_per_kind() -> None:
    examples = EXAMPLE_RE.findall(DOC.read_text(encoding="utf-8"))
    assert sorted(k for k, _, _ in examples) == sorted(k.value for k in MediaKind)
    for kind, card, manifest in examples:
        paths = re.findall(r'"(?:image|mask|depth|audio)": "([^"]+)"', manifest)
        paths += [
            p
            for group in re.findall(r'"images": \[([^\]]*)\]', manifest)
            for p in re.findall(r'"([^"]+)"', group)
        ]
        fake = hashlib.sha256(b"x").hexdigest()
        ds = parse_manifest(card.encode(), manifest.encode(), {p: FileInfo(1, fake) for p in paths})
        assert ds.card.kind == kind and len(ds.items) == 2
        assert set(ds.files) == set(paths)
