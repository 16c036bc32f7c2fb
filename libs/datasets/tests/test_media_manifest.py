"""Media datasets: card kinds, item schemas, parse_manifest with decode checks, content hash."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from flageval_datasets import DatasetError
from flageval_datasets.loader import parse_card
from flageval_datasets.media import (
    MEDIA_KINDS,
    FileInfo,
    MediaKind,
    compute_media_sha256,
    parse_manifest,
    parse_media_card,
)
from flageval_datasets.media import samples as s


def table(blobs: dict[str, bytes]) -> dict[str, FileInfo]:
    return {
        p: FileInfo(size=len(b), sha256=hashlib.sha256(b).hexdigest()) for p, b in blobs.items()
    }


def jsonl(*objs: Any) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def card(kind: str, **extra: Any) -> bytes:
    return json.dumps({"name": f"t-{kind}", "kind": kind, "version": "1", **extra}).encode()


IMG = s.png("RGB", (8, 6), (10, 20, 30))
BLOBS = {
    "a.png": IMG,
    "b.jpg": s.jpeg((8, 6)),
    "m.png": s.png("L", (8, 6), 1),
    "d.png": s.png("I;16", (8, 6), 2500),
    "c.wav": s.wav(),
    "c.flac": s.flac(),
}

# kind → (card extras, two manifest items): one worked example per kind.
EXAMPLES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "image_classification": (
        {"classes": ["cat", "dog"]},
        [{"id": 1, "image": "a.png", "label": "cat"}, {"id": 2, "image": "b.jpg", "label": "dog"}],
    ),
    "retrieval": (
        {},
        [
            {"id": "a", "image": "a.png", "captions": ["a dark square"]},
            {"id": "b", "image": "b.jpg", "captions": ["red", "a red square"]},
        ],
    ),
    "segmentation": (
        {"classes": ["background", "wall"], "ignore_index": 255},
        [
            {"id": "1", "image": "a.png", "mask": "m.png"},
            {"id": "2", "image": "b.jpg", "mask": "m.png"},
        ],
    ),
    "depth": (
        {"depth_scale": 1000, "min_depth": 0.001, "max_depth": 10, "crop": "eigen"},
        [
            {"id": "1", "image": "a.png", "depth": "d.png"},
            {"id": "2", "image": "b.jpg", "depth": "d.png"},
        ],
    ),
    "vqa": (
        {},
        [
            {
                "id": 1,
                "images": ["a.png"],
                "question": "Colour?",
                "question_type": "color",
                "answer": "blue",
            },
            {
                "id": 2,
                "images": ["a.png", "b.jpg"],
                "question": "Same colour?",
                "question_type": "yes/no",
                "answers": ["no", "No"],
            },
        ],
    ),
    "text_to_image": ({}, [{"id": 1, "prompt": "a red square"}, {"id": 2, "prompt": "a cat"}]),
    "audio_classification": (
        {"classes": ["yes", "no"]},
        [{"id": 1, "audio": "c.wav", "label": "yes"}, {"id": 2, "audio": "c.flac", "label": "no"}],
    ),
    "speech_recognition": (
        {"language": "en"},
        [
            {"id": "u1", "audio": "c.flac", "transcript": "HELLO"},
            {"id": "u2", "audio": "c.wav", "transcript": "WORLD"},
        ],
    ),
    "safety_prompt": (
        {},
        [
            {"id": 1, "prompt": "how do I ...", "category": "A1"},
            {"id": 2, "prompt": "tell me", "category": "A5"},
        ],
    ),
}


def errors_of(exc: pytest.ExceptionInfo[DatasetError]) -> list[tuple[int | None, str]]:
    return [(e.line, e.message) for e in exc.value.errors]


def test_every_kind_has_a_worked_example() -> None:
    assert set(EXAMPLES) == {k.value for k in MediaKind} == {k.value for k in MEDIA_KINDS}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kind_parses_with_decode_checks(kind: str) -> None:
    extra, items = EXAMPLES[kind]
    ds = parse_manifest(card(kind, **extra), jsonl(*items), table(BLOBS), BLOBS.__getitem__)
    assert [it.id for it in ds.items] == [str(it["id"]) for it in items]
    assert ds.card.kind == kind
    assert ds.card.domain == MEDIA_KINDS[MediaKind(kind)].domains[0]
    assert ds.card.metric == MEDIA_KINDS[MediaKind(kind)].metrics[0]
    referenced = {p for it in ds.items for _, p in it.media_paths()}
    assert set(ds.files) == referenced  # only the referenced files, never the whole table
    assert len(ds.content_sha256) == 64


def test_vqa_answer_becomes_answers_and_both_is_refused() -> None:
    _extra, items = EXAMPLES["vqa"]
    ds = parse_manifest(card("vqa"), jsonl(*items), table(BLOBS))
    assert ds.items[0].model_dump()["answers"] == ["blue"]
    bad = {**items[0], "answers": ["x"]}
    with pytest.raises(DatasetError) as exc:
        parse_manifest(card("vqa"), jsonl(bad), table(BLOBS))
    assert exc.value.lines == [1]
    assert "either answer or answers" in str(exc.value)


def test_content_sha256_is_canonical_and_covers_files() -> None:
    extra, items = EXAMPLES["image_classification"]
    c = card("image_classification", **extra)
    files = table(BLOBS)
    a = parse_manifest(c, jsonl(*items), files).content_sha256
    # Key order, whitespace, and unreferenced files do not matter …
    reordered = b"\n".join(
        json.dumps(dict(reversed(list(i.items()))), indent=None).encode() for i in items
    )
    pretty = json.dumps(json.loads(c), indent=2).encode()
    assert (
        parse_manifest(pretty, reordered, {**files, "extra.png": files["a.png"]}).content_sha256
        == a
    )
    # … the sha256 of a referenced file does.
    other = {**files, "a.png": FileInfo(files["a.png"].size, "0" * 64)}
    assert parse_manifest(c, jsonl(*items), other).content_sha256 != a
    ds = parse_manifest(c, jsonl(*items), files)
    assert compute_media_sha256(ds.card_bytes(), ds.manifest_bytes(), ds.files) == a


def test_every_problem_at_once_with_line_numbers() -> None:
    extra, _ = EXAMPLES["image_classification"]
    manifest = jsonl(
        {"id": 1, "image": "a.png", "label": "cat"},
        b"{not json",
        b'{"id": 3, "image": "a.png", "label": "caf\xe9"}',
        b"",
        [1, 2],
        {"id": 1, "image": "b.jpg", "label": "dog"},
        {"id": 7, "image": "nope.png", "label": "dog"},
        {"id": 8, "image": "a.png", "label": "horse"},
        {"id": 9, "image": "a.png"},
        {"id": 10, "image": "a.png", "label": "cat", "colour": "red"},
        {"id": 11, "image": "../etc/passwd", "label": "cat"},
        {"id": 12, "image": "/abs/a.png", "label": "cat"},
        {"id": 13, "image": "dir\\a.png", "label": "cat"},
        {"id": 14, "image": "C:/a.png", "label": "cat"},
        {"id": 15, "image": "a//b.png", "label": "cat"},
        {"id": 16, "image": "a.png", "label": "\ud800"},
    )
    with pytest.raises(DatasetError) as exc:
        parse_manifest(card("image_classification", **extra), manifest, table(BLOBS))
    errs = errors_of(exc)
    by_line = {line: msg for line, msg in errs}
    assert by_line[2].startswith("not valid JSON")
    assert by_line[3] == "not valid UTF-8"
    assert by_line[4] == "blank line"
    assert by_line[5] == "not a JSON object"
    assert by_line[6] == "duplicate id '1' (first on line 1)"
    assert "'nope.png' is not among the dataset's files" in by_line[7]
    assert "label 'horse' is not one of the card's classes (cat, dog)" in by_line[8]
    assert by_line[9] == "label: Field required"
    assert by_line[10].startswith("colour: Extra inputs are not permitted")
    assert "path traversal" in by_line[11]
    assert "is absolute" in by_line[12]
    assert "backslash" in by_line[13]
    assert "is absolute" in by_line[14]
    assert "path traversal" in by_line[15]
    assert "surrogate" in by_line[16]
    assert 1 not in by_line and len(errs) == 15


def test_card_problems() -> None:
    cases: list[tuple[bytes, str]] = [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"name": "x", "version": "1"}).encode(), "kind: Field required"),
        (card("video"), "kind: 'video' is not one of image_classification, retrieval"),
        (card("depth", depth_scale=1000, max_depth=10, classes=["a"]), "classes: Extra inputs"),
        (card("depth", depth_scale=0, max_depth=10), "depth_scale: Input should be greater than 0"),
        (
            card("depth", depth_scale=1000, min_depth=5, max_depth=1),
            "max_depth (1.0) must be greater",
        ),
        (card("depth", depth_scale=1000, max_depth=10, crop="nyu"), "crop: Input should be"),
        (card("image_classification", classes=["a", "a"]), "class 'a' is listed twice"),
        (card("image_classification", classes=["a"]), "classes: List should have at least 2"),
        (card("segmentation", classes=["a"], ignore_index=256), "ignore_index: Input should be"),
        (card("vqa", metric="miou"), "metric 'miou' does not fit kind 'vqa'"),
        (card("vqa", domain="audio"), "domain 'audio' does not fit kind 'vqa'"),
        (card("vqa", name="bad name"), "name must be"),
    ]
    for raw, needle in cases:
        with pytest.raises(DatasetError) as exc:
            parse_media_card(raw)
        assert all(e.line is None for e in exc.value.errors)
        assert needle in str(exc.value), (raw, str(exc.value))
    # A card error still lets the manifest's own problems through, all at once.
    with pytest.raises(DatasetError) as exc2:
        parse_manifest(card("video"), b"{bad\n", {})
    assert exc2.value.lines == [1] and any(e.line is None for e in exc2.value.errors)


def test_nlp_cards_are_unchanged() -> None:
    nlp = {"name": "n", "task": "choice_qa", "language": "en", "metric": "accuracy", "version": "1"}
    assert parse_card(json.dumps(nlp)).task == "choice_qa"
    with pytest.raises(DatasetError, match="kind: Extra inputs"):
        parse_card(json.dumps({**nlp, "kind": "vqa"}))
    with pytest.raises(DatasetError, match="kind: Field required"):
        parse_media_card(json.dumps(nlp))


def test_empty_manifest_and_bad_file_table() -> None:
    with pytest.raises(DatasetError, match="manifest is empty"):
        parse_manifest(card("text_to_image"), b"", {})
    with pytest.raises(DatasetError, match="no valid lowercase hex sha256"):
        parse_manifest(
            card("text_to_image"), jsonl({"id": 1, "prompt": "x"}), {"a.png": FileInfo(1, "XYZ")}
        )


def _decode_case(
    kind: str, extra: dict[str, Any], item: dict[str, Any], blobs: dict[str, bytes]
) -> str:
    all_blobs = {**BLOBS, **blobs}
    with pytest.raises(DatasetError) as exc:
        parse_manifest(card(kind, **extra), jsonl(item), table(all_blobs), all_blobs.__getitem__)
    assert exc.value.lines == [1], str(exc.value)
    return str(exc.value)


def _truncated_jpeg() -> bytes:
    """Half a noisy JPEG: the header is intact, so Pillow's verify() passes; load() does not."""
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 64).convert("RGB").save(buf, "JPEG")
    data = buf.getvalue()[: len(buf.getvalue()) // 2]
    Image.open(io.BytesIO(data)).verify()
    return data


TRUNCATED_JPEG = _truncated_jpeg()
TRUNCATED_WAV = s.wav(1600)[:-100]

DECODE_CASES: list[tuple[str, str, dict[str, Any], bytes, str]] = [
    # (kind, field, card extras, bad bytes, expected message part)
    (
        "image_classification",
        "image",
        {"classes": ["a", "b"]},
        b"GIF89a nonsense",
        "does not decode as an image",
    ),
    (
        "image_classification",
        "image",
        {"classes": ["a", "b"]},
        TRUNCATED_JPEG,
        "does not decode as an image",
    ),
    (
        "image_classification",
        "image",
        {"classes": ["a", "b"]},
        s.png()[:40],
        "does not decode as an image",
    ),
    (
        "segmentation",
        "mask",
        {"classes": ["a", "b"]},
        s.png("RGB"),
        "a mask must be single-channel",
    ),
    (
        "segmentation",
        "mask",
        {"classes": ["a", "b"]},
        s.png("L", (8, 6), 7),
        "has class ids 7 but the card has 2",
    ),
    (
        "segmentation",
        "mask",
        {"classes": ["a", "b"]},
        s.png("L", (4, 4), 0),
        "is 4x4 but image 'a.png' is 8x6",
    ),
    ("segmentation", "mask", {"classes": ["a", "b"]}, s.jpeg(), "does not decode as a PNG mask"),
    (
        "depth",
        "depth",
        {"depth_scale": 256, "max_depth": 80},
        s.png("L"),
        "must be a 16-bit grayscale PNG",
    ),
    (
        "depth",
        "depth",
        {"depth_scale": 256, "max_depth": 80},
        s.png("I;16", (6, 8), 1),
        "is 6x8 but image",
    ),
    ("audio_classification", "audio", {"classes": ["a", "b"]}, TRUNCATED_WAV, "truncated WAV"),
    (
        "audio_classification",
        "audio",
        {"classes": ["a", "b"]},
        b"RIFF\x00\x00\x00\x00WAVEjunk",
        "does not decode as a PCM WAV",
    ),
    ("audio_classification", "audio", {"classes": ["a", "b"]}, s.png(), "neither a WAV"),
    ("speech_recognition", "audio", {}, b"fLaC\x00\x00", "does not decode as FLAC"),
    ("speech_recognition", "audio", {}, s.flac()[:42], "no audio frame after the metadata"),
]


@pytest.mark.parametrize(("kind", "fld", "extra", "bad", "needle"), DECODE_CASES)
def test_media_that_does_not_decode(
    kind: str, fld: str, extra: dict[str, Any], bad: bytes, needle: str
) -> None:
    base = {
        "image_classification": {"id": 1, "image": "a.png", "label": "a"},
        "segmentation": {"id": 1, "image": "a.png", "mask": "m.png"},
        "depth": {"id": 1, "image": "a.png", "depth": "d.png"},
        "audio_classification": {"id": 1, "audio": "c.wav", "label": "a"},
        "speech_recognition": {"id": 1, "audio": "c.wav", "transcript": "hi"},
    }[kind]
    item = {**base, fld: "bad.bin"}
    msg = _decode_case(kind, extra, item, {"bad.bin": bad})
    assert "'bad.bin'" in msg and needle in msg, msg


def test_ignore_index_pixels_are_allowed_in_masks() -> None:
    mask = s.png("L", (8, 6), 255)
    blobs = {**BLOBS, "ign.png": mask}
    ds = parse_manifest(
        card("segmentation", classes=["a", "b"]),
        jsonl({"id": 1, "image": "a.png", "mask": "ign.png"}),
        table(blobs),
        blobs.__getitem__,
    )
    assert ds.card.ignore_index == 255  # the default


def test_bytes_must_match_the_file_table() -> None:
    files = table(BLOBS)
    swapped = {**BLOBS, "a.png": s.png("RGB", (8, 6), (1, 2, 3))}  # same size, other bytes
    assert len(swapped["a.png"]) == len(BLOBS["a.png"])
    item = {"id": 1, "image": "a.png", "label": "cat"}
    c = card("image_classification", classes=["cat", "dog"])
    with pytest.raises(DatasetError, match="does not match its sha256"):
        parse_manifest(c, jsonl(item), files, swapped.__getitem__)
    shorter = {**BLOBS, "a.png": BLOBS["a.png"] + b"x"}
    with pytest.raises(DatasetError, match="bytes but the file table says"):
        parse_manifest(c, jsonl(item), files, shorter.__getitem__)

    def unreadable(path: str) -> bytes:
        raise FileNotFoundError(path)

    with pytest.raises(DatasetError, match=r"cannot be read \(FileNotFoundError\)"):
        parse_manifest(c, jsonl(item), files, unreadable)


def test_each_file_is_read_once_and_reported_on_every_line() -> None:
    calls: list[str] = []
    blobs = {**BLOBS, "bad.png": b"junk"}

    def read(path: str) -> bytes:
        calls.append(path)
        return blobs[path]

    items = [{"id": i, "image": "bad.png", "label": "cat"} for i in range(3)]
    read_fn: Callable[[str], bytes] = read
    with pytest.raises(DatasetError) as exc:
        parse_manifest(
            card("image_classification", classes=["cat", "dog"]),
            jsonl(*items),
            table(blobs),
            read_fn,
        )
    assert exc.value.lines == [1, 2, 3]
    assert calls == ["bad.png"]


def test_without_read_no_bytes_are_checked() -> None:
    blobs = {**BLOBS, "bad.png": b"junk"}
    ds = parse_manifest(
        card("image_classification", classes=["cat", "dog"]),
        jsonl({"id": 1, "image": "bad.png", "label": "cat"}),
        table(blobs),
    )
    assert list(ds.files) == ["bad.png"]
