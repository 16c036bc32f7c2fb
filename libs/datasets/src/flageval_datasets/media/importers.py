"""Importers from public media formats to a media dataset (card + manifest + files).

Each ``import_*`` function reads a source folder and returns a :class:`MediaImport` — the card,
the manifest items and, for every manifest path, the source file it comes from. Nothing is
written until :func:`build` has checked the whole thing with :func:`parse_manifest` (every
file read, sha256'd and decoded) and :func:`write_media_dataset` is called on the result.

Where errors point: every problem names its source file (``LineError.file``) and, where the
source has lines (``*.trans.txt``, ``testing_list.txt``, a class list, a JSON file — each
entry of a JSON list is located at the line where it starts), the line in that file. An item
from a folder of files (ImageFolder, ADE20K, depth pairs) is named by its file path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..loader import DatasetError, LineError
from .items import check_media_path
from .manifest import FileInfo, MediaDataset, parse_manifest

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
AUDIO_EXTS = (".wav", ".flac")

# Depth presets: (depth_scale, min_depth, max_depth, crop). NYU-v2 PNGs hold millimetres and
# are scored in 1e-3..10 m with the Eigen crop; KITTI PNGs hold metres*256, 1e-3..80 m, Garg crop.
DEPTH_PRESETS: dict[str, tuple[float, float, float, str]] = {
    "nyu": (1000.0, 1e-3, 10.0, "eigen"),
    "kitti": (256.0, 1e-3, 80.0, "garg"),
}


Origin = tuple[str, int | None]  # (source file, its 1-based line or None)
_FIRST_RE = re.compile(r"\(first on line (\d+)\)")


def _where(origin: Origin) -> str:
    return origin[0] if origin[1] is None else f"{origin[0]} line {origin[1]}"


@dataclass
class MediaImport:
    """What an importer read: the card and manifest it would write, and where each file is."""

    card: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)  # per item: where it came from
    sources: dict[str, Path] = field(default_factory=dict)  # manifest path → source file
    errors: list[LineError] = field(default_factory=list)  # problems of the source format

    bad_lines: set[int] = field(default_factory=set)  # items already reported by the importer

    def add(self, origin: Origin, item: dict[str, Any]) -> None:
        self.items.append(item)
        self.origins.append(origin)

    def source(self, rel: str, path: Path) -> None:
        """Map a manifest path to its source file. Unsafe paths (``..``, absolute) are not
        mapped — so never read — and the manifest check reports them on their item."""
        try:
            check_media_path(rel)
        except ValueError:
            return
        self.sources[rel] = path

    def reject(self, origin: Origin, message: str) -> None:
        """An entry the importer could not turn into an item: report it once at its origin and
        keep a placeholder manifest line, so later items keep their manifest line numbers."""
        self.errors.append(LineError(origin[1], message, origin[0]))
        self.bad_lines.add(len(self.items) + 1)
        self.add(origin, {})

    def manifest_bytes(self) -> bytes:
        return b"".join(
            json.dumps(it, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"
            for it in self.items
        )


def _sha256_file(path: Path) -> FileInfo:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return FileInfo(size=size, sha256=h.hexdigest())


def build(imp: MediaImport) -> MediaDataset:
    """Check an import completely (every source file read, hashed and decoded); raise
    :class:`DatasetError` listing every problem, with each item's source named."""
    errors = list(imp.errors)
    files: dict[str, FileInfo] = {}
    for rel, src in imp.sources.items():
        if src.is_file():
            files[rel] = _sha256_file(src)

    def read(rel: str) -> bytes:
        return imp.sources[rel].read_bytes()

    card_bytes = json.dumps(imp.card, ensure_ascii=False).encode()
    try:
        ds = parse_manifest(card_bytes, imp.manifest_bytes(), files, read)
    except DatasetError as exc:
        n = len(imp.origins)
        for e in exc.errors:
            if e.line in imp.bad_lines:
                continue
            if e.line is None or not 0 < e.line <= n:
                errors.append(e)
                continue
            # Point at the item's source, not at the manifest line that was never written.
            msg = _FIRST_RE.sub(
                lambda m: (
                    f"(first at {_where(imp.origins[int(m.group(1)) - 1])})"
                    if 0 < int(m.group(1)) <= n
                    else m.group(0)
                ),
                e.message,
            )
            origin_file, line = imp.origins[e.line - 1]
            errors.append(LineError(line, msg, origin_file))
        raise DatasetError(errors) from None
    if errors:
        raise DatasetError(errors)
    return ds


def write_media_dataset(
    ds: MediaDataset, sources: dict[str, Path], out_dir: Path, *, copy: bool = False
) -> None:
    """Write ``card.json``, ``manifest.jsonl`` and ``files/<path>`` (hard links, or copies when
    linking is impossible or ``copy``) under ``out_dir``, which must not exist or be empty.
    Written into a temporary sibling first and renamed, so a failure leaves nothing behind."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DatasetError([LineError(None, f"output folder {out_dir} exists and is not empty")])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        card = ds.card.model_dump(mode="json")
        (tmp / "card.json").write_text(
            json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        (tmp / "manifest.jsonl").write_bytes(ds.manifest_bytes())
        for rel in sorted(ds.files):
            dst = tmp / "files" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            src = sources[rel]
            if not copy:
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass
            shutil.copyfile(src, dst)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- helpers -------------------------------------------------------------------------------


def _name_ok(path: Path, root: Path, imp: MediaImport) -> bool:
    """Refuse file names that are not valid UTF-8 (they arrive surrogate-escaped)."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path.relative_to(root)).decode("utf-8", "replace")
        imp.errors.append(LineError(None, "file name is not valid UTF-8", shown))
        return False
    return True


def _listdir(d: Path) -> list[Path]:
    return sorted((p for p in d.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def _require_dir(d: Path, what: str) -> None:
    if not d.is_dir():
        raise DatasetError([LineError(None, f"{what} folder {d} not found")])


def _text(path: Path, label: str) -> str:
    """A source text file as str; bad UTF-8 → an error at its line, naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError([LineError(None, f"cannot read ({exc.strerror})", label)]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError([LineError(line, "not valid UTF-8", label)]) from None


def _json(path: Path, label: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """A source JSON file and the line where each array element starts (two levels deep:
    ``(i,)`` for a top-level list, ``("images", i)`` for a list in a top-level object)."""
    text = _text(path, label)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError([LineError(exc.lineno, f"not valid JSON ({exc.msg})", label)]) from None
    return value, _element_lines(text)


_WS = " \t\n\r"


def _element_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line of each array element at depth ≤ 2 of an already valid JSON text."""
    dec = json.JSONDecoder()
    lines: dict[tuple[Any, ...], int] = {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    def value(i: int, path: tuple[Any, ...]) -> int:
        i = skip(i)
        if len(path) >= 2 or text[i] not in "[{":
            return dec.raw_decode(text, i)[1]
        close = "]" if text[i] == "[" else "}"
        i = skip(i + 1)
        n = 0
        while text[i] != close:
            if close == "]":
                lines[(*path, n)] = text.count("\n", 0, i) + 1
                i = value(i, (*path, n))
            else:
                key, i = dec.raw_decode(text, i)
                i = skip(skip(i) + 1)  # past ':'
                i = value(i, (*path, key))
            n += 1
            i = skip(i)
            if text[i] == ",":
                i = skip(i + 1)
        return i + 1

    value(0, ())
    return lines


def _base_card(kind: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {"name": name, "kind": kind, "version": version}
    card.update({k: v for k, v in extra.items() if v is not None and v != ""})
    return card


def _stems(d: Path, root: Path, exts: tuple[str, ...], imp: MediaImport) -> dict[str, Path]:
    """``stem → file`` of the files in ``d``; other extensions and clashing stems are errors."""
    out: dict[str, Path] = {}
    for p in _listdir(d):
        if not p.is_file() or not _name_ok(p, root, imp):
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in exts:
            imp.errors.append(LineError(None, f"not a {'/'.join(exts)} file", rel))
            continue
        if p.stem in out:
            imp.errors.append(
                LineError(
                    None, f"shares its stem with {out[p.stem].name}; one of them must go", rel
                )
            )
            continue
        out[p.stem] = p
    return out


# --- importers -----------------------------------------------------------------------------


def import_image_folder(in_dir: Path, *, name: str, version: str = "1", **card: Any) -> MediaImport:
    """ImageFolder: ``IN/<class>/<image>``; classes are the sub-folder names, sorted.
    Item id ``<class>/<stem>``, image ``images/<class>/<file>``."""
    _require_dir(in_dir, "input")
    imp = MediaImport(_base_card("image_classification", name, version, **card))
    for p in _listdir(in_dir):
        if p.is_file():
            imp.errors.append(LineError(None, "file outside a class folder", p.name))
    class_dirs = [p for p in _listdir(in_dir) if p.is_dir() and _name_ok(p, in_dir, imp)]
    classes = [d.name for d in class_dirs]
    imp.card["classes"] = classes
    if len(classes) < 2:
        imp.errors.append(LineError(None, f"{in_dir}: needs at least 2 class folders"))
    for cls in classes:
        for stem, p in _stems(in_dir / cls, in_dir, IMAGE_EXTS, imp).items():
            rel = f"images/{cls}/{p.name}"
            imp.sources[rel] = p
            imp.add((f"{cls}/{p.name}", None), {"id": f"{cls}/{stem}", "image": rel, "label": cls})
    return imp


def _field(obj: Any, key: str, where: str, problems: list[str], types: tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        problems.append(f"{where}: missing field {key!r}")
        return None
    v = obj[key]
    if not isinstance(v, types) or isinstance(v, bool):
        problems.append(f"{where}.{key}: expected {' or '.join(t.__name__ for t in types)}")
        return None
    return v


def import_coco_captions(
    in_dir: Path,
    *,
    name: str,
    version: str = "1",
    annotations: str = "captions.json",
    images: str = "images",
    **card: Any,
) -> MediaImport:
    """COCO-captions-style JSON ``{"images":[{id, file_name}], "annotations":[{image_id,
    caption}]}`` with the images under ``IN/<images>/``. One retrieval item per image
    (id = the image id, captions in file order, stripped); every image needs ≥1 caption."""
    label = annotations
    data, at = _json(in_dir / annotations, label)
    imp = MediaImport(_base_card("retrieval", name, version, **card))
    if not isinstance(data, dict):
        raise DatasetError([LineError(1, "must be a JSON object with images, annotations", label)])

    def problem(path: tuple[Any, ...], message: str) -> None:
        imp.errors.append(LineError(at.get(path), message, label))

    top: list[str] = []
    imgs = _field(data, "images", "the file", top, (list,)) or []
    anns = _field(data, "annotations", "the file", top, (list,)) or []
    for m in top:
        problem((), m)
    by_id: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for i, im in enumerate(imgs):
        where, errs = f"images[{i}]", list[str]()
        iid = _field(im, "id", where, errs, (int, str))
        fname = _field(im, "file_name", where, errs, (str,))
        for m in errs:
            problem(("images", i), m)
        if iid is None or fname is None:
            continue
        key = str(iid)
        if key in by_id:
            first = by_id[key]["origin"]
            problem(
                ("images", i), f"{where}: duplicate image id {iid!r} (first at {_where(first)})"
            )
            continue
        by_id[key] = {"file_name": fname, "captions": [], "origin": (label, at.get(("images", i)))}
        order.append(key)
    for j, ann in enumerate(anns):
        where, errs = f"annotations[{j}]", list[str]()
        iid = _field(ann, "image_id", where, errs, (int, str))
        cap = _field(ann, "caption", where, errs, (str,))
        for m in errs:
            problem(("annotations", j), m)
        if iid is None or cap is None:
            continue
        if str(iid) not in by_id:
            problem(("annotations", j), f"{where}: image_id {iid!r} is not among the images")
            continue
        by_id[str(iid)]["captions"].append(cap.strip())
    for key in order:
        entry = by_id[key]
        rel = f"images/{entry['file_name']}"
        imp.source(rel, in_dir / images / entry["file_name"])
        imp.add(entry["origin"], {"id": key, "image": rel, "captions": entry["captions"]})
    return imp


def read_class_list(path: Path) -> list[str]:
    """An ``objectInfo150``-like class list: a table with a header naming ``Name`` (tab- or
    comma-separated, ``Idx`` 1..N in order) or one class name per line. Names like
    ``"wall"`` or ``"building;edifice"`` are kept whole."""
    label = path.name
    lines = _text(path, label).splitlines()
    errors: list[LineError] = []
    names: list[str] = []
    if not lines:
        raise DatasetError([LineError(None, "empty class list", label)])
    head = lines[0]
    sep = "\t" if "\t" in head else ","
    cols = [c.strip().lower() for c in head.split(sep)]
    if "name" in cols:
        ni = cols.index("name")
        ii = cols.index("idx") if "idx" in cols else None
        for lineno, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            cells = [c.strip() for c in line.split(sep)]
            if len(cells) != len(cols):
                errors.append(
                    LineError(lineno, f"{len(cells)} columns, the header has {len(cols)}", label)
                )
            elif ii is not None and cells[ii] != str(len(names) + 1):
                errors.append(
                    LineError(lineno, f"Idx {cells[ii]!r}, expected {len(names) + 1}", label)
                )
            elif not cells[ni]:
                errors.append(LineError(lineno, "empty Name", label))
            else:
                names.append(cells[ni])
    else:
        names = [line.strip() for line in lines if line.strip()]
    if errors:
        raise DatasetError(errors)
    if not names:
        raise DatasetError([LineError(None, "no classes", label)])
    return names


def import_ade20k(
    in_dir: Path,
    *,
    name: str,
    version: str = "1",
    images: str = "images",
    annotations: str = "annotations",
    classes_file: str = "objectInfo150.txt",
    **card: Any,
) -> MediaImport:
    """ADE20K-style: ``IN/images/<stem>.jpg`` + ``IN/annotations/<stem>.png`` (8-bit masks,
    0 = other, k = the k-th class of the class list). The card's classes are
    ``["other", *class_list]`` with ``ignore_index`` 0, so masks are used as they are."""
    img_dir, ann_dir = in_dir / images, in_dir / annotations
    _require_dir(img_dir, "images")
    _require_dir(ann_dir, "annotations")
    names = read_class_list(in_dir / classes_file)
    if len(names) > 255:
        raise DatasetError([LineError(None, f"{len(names)} classes; at most 255", classes_file)])
    imp = MediaImport(
        _base_card("segmentation", name, version, classes=["other", *names], ignore_index=0, **card)
    )
    imgs = _stems(img_dir, in_dir, IMAGE_EXTS, imp)
    masks = _stems(ann_dir, in_dir, (".png",), imp)
    for stem in sorted(set(masks) - set(imgs)):
        rel = masks[stem].relative_to(in_dir).as_posix()
        imp.errors.append(LineError(None, f"no image with stem {stem!r} in {images}/", rel))
    for stem, p in imgs.items():
        rel_img = f"images/{p.name}"
        mpath = masks.get(stem, ann_dir / f"{stem}.png")
        rel_mask = f"annotations/{mpath.name}"
        imp.sources[rel_img] = p
        imp.sources[rel_mask] = mpath
        imp.add((f"{images}/{p.name}", None), {"id": stem, "image": rel_img, "mask": rel_mask})
    return imp


def import_depth(
    in_dir: Path,
    *,
    name: str,
    preset: str,
    version: str = "1",
    rgb: str = "rgb",
    depth: str = "depth",
    depth_scale: float | None = None,
    min_depth: float | None = None,
    max_depth: float | None = None,
    crop: str | None = None,
    **card: Any,
) -> MediaImport:
    """NYU/KITTI-style pairs: ``IN/rgb/<stem>.{png,jpg}`` + ``IN/depth/<stem>.png`` (16-bit).
    ``preset`` (``nyu``/``kitti``) sets scale, valid range and crop; each can be overridden."""
    scale0, min0, max0, crop0 = DEPTH_PRESETS[preset]
    rgb_dir, depth_dir = in_dir / rgb, in_dir / depth
    _require_dir(rgb_dir, "rgb")
    _require_dir(depth_dir, "depth")
    imp = MediaImport(
        _base_card(
            "depth",
            name,
            version,
            depth_scale=scale0 if depth_scale is None else depth_scale,
            min_depth=min0 if min_depth is None else min_depth,
            max_depth=max0 if max_depth is None else max_depth,
            crop=crop or crop0,
            **card,
        )
    )
    imgs = _stems(rgb_dir, in_dir, IMAGE_EXTS, imp)
    deps = _stems(depth_dir, in_dir, (".png",), imp)
    for stem in sorted(set(deps) - set(imgs)):
        rel = deps[stem].relative_to(in_dir).as_posix()
        imp.errors.append(LineError(None, f"no rgb image with stem {stem!r} in {rgb}/", rel))
    for stem, p in imgs.items():
        dpath = deps.get(stem, depth_dir / f"{stem}.png")
        rel_img, rel_dep = f"rgb/{p.name}", f"depth/{dpath.name}"
        imp.sources[rel_img] = p
        imp.sources[rel_dep] = dpath
        imp.add((f"{rgb}/{p.name}", None), {"id": stem, "image": rel_img, "depth": rel_dep})
    return imp


_VQA_FIELDS = ("question_id", "question", "question_type", "answer")


def import_flageval_vqa(
    in_dir: Path, *, name: str, version: str = "1", annotations: str = "data.json", **card: Any
) -> MediaImport:
    """FlagEvalMM-style VQA JSON: a list of ``{question_id, question, img_path (a path or a
    list), answer (a string or a list), question_type}``; image paths relative to ``IN``."""
    label = annotations
    data, at = _json(in_dir / annotations, label)
    if not isinstance(data, list):
        raise DatasetError([LineError(1, "must be a JSON list of questions", label)])
    imp = MediaImport(_base_card("vqa", name, version, **card))
    for i, q in enumerate(data):
        origin: Origin = (label, at.get((i,)))
        if not isinstance(q, dict):
            imp.reject(origin, f"[{i}]: not a JSON object")
            continue
        # Name the source's fields (question_id, img_path, answer), not the manifest's.
        missing = [k for k in _VQA_FIELDS if k not in q]
        paths = q.get("img_path")
        if paths is None:
            missing.append("img_path")
        extra = sorted(set(q) - {*_VQA_FIELDS, "img_path"})
        if missing or extra:
            parts = [f"missing field(s) {', '.join(missing)}"] if missing else []
            parts += [f"unknown field(s) {', '.join(extra)}"] if extra else []
            imp.reject(origin, f"[{i}]: {'; '.join(parts)}")
            continue
        plist = paths if isinstance(paths, list) else [paths]
        for p in plist:
            if isinstance(p, str):
                imp.source(p, in_dir / p)
        answers = q["answer"] if isinstance(q["answer"], list) else [q["answer"]]
        imp.add(
            origin,
            {
                "id": q["question_id"],
                "images": plist,
                "question": q["question"],
                "question_type": q["question_type"],
                "answers": answers,
            },
        )
    return imp


def import_speech_commands(
    in_dir: Path, *, name: str, version: str = "1", split: str = "test", **card: Any
) -> MediaImport:
    """Speech-Commands-style: ``IN/<label>/<clip>.wav``; ``_background_noise_`` is skipped.
    With ``split="test"`` and an ``IN/testing_list.txt`` (lines ``label/clip.wav``) only the
    listed clips are taken; ``split="all"`` takes every clip. Classes = the label folders."""
    _require_dir(in_dir, "input")
    imp = MediaImport(_base_card("audio_classification", name, version, **card))
    labels = [
        d.name
        for d in _listdir(in_dir)
        if d.is_dir() and d.name != "_background_noise_" and _name_ok(d, in_dir, imp)
    ]
    imp.card["classes"] = labels
    if len(labels) < 2:
        imp.errors.append(LineError(None, f"{in_dir}: needs at least 2 label folders"))
    listing = in_dir / "testing_list.txt"
    if split == "test" and listing.is_file():
        for lineno, line in enumerate(_text(listing, listing.name).splitlines(), start=1):
            entry = line.strip()
            if not entry:
                continue
            label, _, clip = entry.partition("/")
            if not clip or "/" in clip:
                imp.errors.append(
                    LineError(lineno, f"{entry!r} is not 'label/clip.wav'", listing.name)
                )
                continue
            rel = f"audio/{entry}"
            imp.source(rel, in_dir / entry)
            imp.add(
                (listing.name, lineno),
                {"id": entry.rsplit(".", 1)[0], "audio": rel, "label": label},
            )
        return imp
    for label in labels:
        for stem, p in _stems(in_dir / label, in_dir, AUDIO_EXTS, imp).items():
            rel = f"audio/{label}/{p.name}"
            imp.sources[rel] = p
            imp.add(
                (f"{label}/{p.name}", None), {"id": f"{label}/{stem}", "audio": rel, "label": label}
            )
    return imp


def import_librispeech(in_dir: Path, *, name: str, version: str = "1", **card: Any) -> MediaImport:
    """LibriSpeech-style: ``IN/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` with lines
    ``UTTERANCE-ID TRANSCRIPT`` and the audio ``UTTERANCE-ID.flac`` (or ``.wav``) beside it."""
    _require_dir(in_dir, "input")
    imp = MediaImport(_base_card("speech_recognition", name, version, **card))
    trans = sorted(in_dir.rglob("*.trans.txt"))
    if not trans:
        raise DatasetError([LineError(None, f"{in_dir}: no *.trans.txt transcript files")])
    for tf in trans:
        rel_dir = tf.parent.relative_to(in_dir).as_posix()
        label = tf.relative_to(in_dir).as_posix()
        try:
            text = _text(tf, label)
        except DatasetError as exc:
            imp.errors.extend(exc.errors)
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            uid, _, transcript = line.strip().partition(" ")
            if not transcript.strip():
                imp.errors.append(LineError(lineno, f"{uid!r} has no transcript", label))
                continue
            audio = tf.parent / f"{uid}.flac"
            if not audio.exists() and (tf.parent / f"{uid}.wav").exists():
                audio = tf.parent / f"{uid}.wav"
            rel = f"{rel_dir}/{audio.name}" if rel_dir != "." else audio.name
            imp.sources[rel] = audio
            imp.add((label, lineno), {"id": uid, "audio": rel, "transcript": transcript.strip()})
    return imp


Importer = Callable[..., MediaImport]


def _nyu(in_dir: Path, **kw: Any) -> MediaImport:
    return import_depth(in_dir, preset="nyu", **kw)


def _kitti(in_dir: Path, **kw: Any) -> MediaImport:
    return import_depth(in_dir, preset="kitti", **kw)


FORMATS: dict[str, Importer] = {
    "imagefolder": import_image_folder,
    "coco-captions": import_coco_captions,
    "ade20k": import_ade20k,
    "nyu-depth": _nyu,
    "kitti-depth": _kitti,
    "flageval-vqa": import_flageval_vqa,
    "speech-commands": import_speech_commands,
    "librispeech": import_librispeech,
}


def import_media(
    fmt: str, in_dir: Path, out_dir: Path, *, copy: bool = False, **kw: Any
) -> MediaDataset:
    """Read ``in_dir`` in format ``fmt``, check everything, then write ``out_dir``; on any
    problem raise :class:`DatasetError` and write nothing."""
    imp = FORMATS[fmt](in_dir, **kw)
    ds = build(imp)
    write_media_dataset(ds, imp.sources, out_dir, copy=copy)
    return ds
