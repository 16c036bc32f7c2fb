"""CLI: ``python -m flageval_datasets.media FORMAT IN_DIR OUT_DIR --name NAME [options]``.

Formats: imagefolder, coco-captions, ade20k, nyu-depth, kitti-depth, flageval-vqa,
speech-commands, librispeech (see :mod:`flageval_datasets.media.importers`). Writes
``OUT_DIR/card.json``, ``OUT_DIR/manifest.jsonl`` and ``OUT_DIR/files/…`` only when every item
and every file checks out; otherwise prints each problem with its line number and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..loader import DatasetError
from .importers import FORMATS, import_media


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m flageval_datasets.media",
        description="Import a public media dataset format into a FlagEval media dataset.",
    )
    ap.add_argument("format", choices=sorted(FORMATS))
    ap.add_argument("in_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", default="1")
    ap.add_argument("--description")
    ap.add_argument("--source", help="where the data comes from (shown in the catalog)")
    ap.add_argument("--license")
    ap.add_argument("--metric", help="default: the kind's first metric")
    ap.add_argument("--domain", help="default: the kind's domain")
    ap.add_argument("--copy", action="store_true", help="copy files instead of hard-linking")
    g = ap.add_argument_group("format options")
    g.add_argument("--annotations", help="coco-captions: captions.json; flageval-vqa: data.json")
    g.add_argument("--images", help="coco-captions/ade20k: images folder (default images)")
    g.add_argument("--masks", help="ade20k: annotation folder (default annotations)")
    g.add_argument("--classes-file", help="ade20k: class list (default objectInfo150.txt)")
    g.add_argument("--rgb", help="depth: rgb folder (default rgb)")
    g.add_argument("--depth", help="depth: depth folder (default depth)")
    g.add_argument("--depth-scale", type=float)
    g.add_argument("--min-depth", type=float)
    g.add_argument("--max-depth", type=float)
    g.add_argument("--crop", choices=["none", "eigen", "garg"])
    g.add_argument("--split", choices=["test", "all"], help="speech-commands (default test)")
    g.add_argument("--language", help="librispeech: transcript language (default en)")
    a = ap.parse_args(argv)

    kw: dict[str, Any] = {
        "name": a.name,
        "version": a.version,
        "description": a.description,
        "source": a.source,
        "license": a.license,
        "metric": a.metric,
        "domain": a.domain,
    }
    per_format: dict[str, dict[str, Any]] = {
        "coco-captions": {"annotations": a.annotations, "images": a.images},
        "flageval-vqa": {"annotations": a.annotations},
        "ade20k": {"images": a.images, "annotations": a.masks, "classes_file": a.classes_file},
        "nyu-depth": {
            "rgb": a.rgb,
            "depth": a.depth,
            "depth_scale": a.depth_scale,
            "min_depth": a.min_depth,
            "max_depth": a.max_depth,
            "crop": a.crop,
        },
        "speech-commands": {"split": a.split},
        "librispeech": {"language": a.language},
    }
    per_format["kitti-depth"] = per_format["nyu-depth"]
    # Options left unset keep the importer's defaults (None for card fields is dropped there).
    extra = {k: v for k, v in per_format.get(a.format, {}).items() if v is not None}
    kw.update(extra)
    try:
        ds = import_media(a.format, a.in_dir, a.out_dir, copy=a.copy, **kw)
    except DatasetError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(
        f"wrote {a.out_dir}: {ds.card.kind.value} dataset {ds.name!r}, {len(ds.items)} items, "
        f"{len(ds.files)} files, content sha256 {ds.content_sha256}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
