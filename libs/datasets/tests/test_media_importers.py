"""Media importers: each public format on a tiny fixture made here (Pillow PNG/JPEG, stdlib
WAV, a hand-built FLAC) and on broken variants → line-numbered DatasetError, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flageval_datasets import DatasetError
from flageval_datasets.media import samples as s
from flageval_datasets.media.__main__ import main
from flageval_datasets.media.importers import import_media, read_class_list

Files = dict[str, bytes]


def write_tree(root: Path, files: Files) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def card(out: Path) -> dict[str, Any]:
    return json.loads((out / "card.json").read_text())


Err = tuple[str | None, int | None, str]  # (source file, line, message)


def fails(tmp_path: Path, fmt: str, files: Files, **kw: Any) -> list[Err]:
    """Import a broken tree: must raise with every error listed and leave nothing behind."""
    src = write_tree(tmp_path / "in", files)
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as exc:
        import_media(fmt, src, out, name="broken", **kw)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # no partial output either
    return [(e.file, e.line, e.message) for e in exc.value.errors]


def one(errs: list[Err], file: str | None, line: int | None, needle: str) -> None:
    """Exactly one error at (file, line) contains ``needle``."""
    hits = [m for f, ln, m in errs if (f, ln) == (file, line) and needle in m]
    assert len(hits) == 1, f"want one error at {file} line {line} with {needle!r}; got {errs}"


# --- ImageFolder ---------------------------------------------------------------------------

IMAGEFOLDER: Files = {
    "cat/001.png": s.png("RGB", (8, 6), (200, 150, 100)),
    "cat/002.jpg": s.jpeg(),
    "dog/001.png": s.png(),
}


def test_imagefolder(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "in", IMAGEFOLDER)
    out = tmp_path / "out"
    ds = import_media("imagefolder", src, out, name="pets", source="made here", license="CC0")
    assert card(out)["classes"] == ["cat", "dog"]
    assert card(out)["kind"] == "image_classification" and card(out)["license"] == "CC0"
    assert manifest(out) == [
        {"id": "cat/001", "image": "images/cat/001.png", "label": "cat"},
        {"id": "cat/002", "image": "images/cat/002.jpg", "label": "cat"},
        {"id": "dog/001", "image": "images/dog/001.png", "label": "dog"},
    ]
    assert (out / "files/images/cat/002.jpg").read_bytes() == IMAGEFOLDER["cat/002.jpg"]
    # Hard-linked by default (same filesystem), copied with copy=True.
    assert os.stat(out / "files/images/cat/001.png").st_ino == os.stat(src / "cat/001.png").st_ino
    ds2 = import_media(
        "imagefolder",
        src,
        tmp_path / "out2",
        name="pets",
        source="made here",
        license="CC0",
        copy=True,
    )
    assert (
        os.stat(tmp_path / "out2/files/images/cat/001.png").st_ino
        != os.stat(src / "cat/001.png").st_ino
    )
    assert ds2.content_sha256 == ds.content_sha256
    with pytest.raises(DatasetError, match="exists and is not empty"):
        import_media("imagefolder", src, out, name="pets")


def test_imagefolder_broken(tmp_path: Path) -> None:
    errs = fails(
        tmp_path,
        "imagefolder",
        {
            **IMAGEFOLDER,
            "dog/002.png": b"\x89PNG\r\n\x1a\n broken",
            "README.txt": b"x",
            "dog/notes.txt": b"x",
        },
    )
    one(errs, "dog/002.png", None, "image: file 'images/dog/002.png' does not decode as an image")
    one(errs, "README.txt", None, "file outside a class folder")
    one(errs, "dog/notes.txt", None, "not a .png/.jpg")
    assert len(errs) == 3


def test_imagefolder_bad_utf8_file_name(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "in", IMAGEFOLDER)
    with open(os.fsencode(src / "dog") + b"/caf\xe9.png", "wb") as f:
        f.write(s.png())
    with pytest.raises(DatasetError, match="is not valid UTF-8"):
        import_media("imagefolder", src, tmp_path / "out", name="x")
    assert not (tmp_path / "out").exists()


# --- COCO captions -------------------------------------------------------------------------


def coco(images: list[Any], annotations: list[Any]) -> bytes:
    """One element a line: images[i] on line 2+i, annotations[j] on line len(images)+4+j."""
    ims = ",\n".join(json.dumps(i) for i in images)
    anns = ",\n".join(json.dumps(a) for a in annotations)
    return f'{{"images": [\n{ims}\n],\n"annotations": [\n{anns}\n]}}\n'.encode()


COCO: Files = {
    "captions.json": coco(
        [{"id": 139, "file_name": "000139.jpg"}, {"id": 285, "file_name": "000285.png"}],
        [
            {"image_id": 139, "id": 1, "caption": "A red square. "},
            {"image_id": 285, "id": 2, "caption": "A dark square."},
            {"image_id": 139, "id": 3, "caption": "Something red."},
        ],
    ),
    "images/000139.jpg": s.jpeg(),
    "images/000285.png": s.png(),
}


def test_coco_captions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_media("coco-captions", write_tree(tmp_path / "in", COCO), out, name="coco-mini")
    assert card(out)["kind"] == "retrieval" and card(out)["metric"] == "recall_at_k"
    assert manifest(out) == [
        {
            "id": "139",
            "image": "images/000139.jpg",
            "captions": ["A red square.", "Something red."],
        },
        {"id": "285", "image": "images/000285.png", "captions": ["A dark square."]},
    ]
    assert (out / "files/images/000285.png").is_file()


def test_coco_captions_broken(tmp_path: Path) -> None:
    bad_json = {**COCO, "captions.json": b'{"images": [\n  {"id": 1,\n  oops}\n]}'}
    one(fails(tmp_path / "a", "coco-captions", bad_json), "captions.json", 3, "not valid JSON")
    bad_utf8 = {**COCO, "captions.json": b'{"images": [],\n "annotations": [{"caption": "\xff"}]}'}
    one(fails(tmp_path / "b", "coco-captions", bad_utf8), "captions.json", 2, "not valid UTF-8")
    broken = {
        **COCO,
        "captions.json": coco(
            [
                {"id": 1, "file_name": "000139.jpg"},
                {"id": 1, "file_name": "000285.png"},
                {"id": 2, "file_name": "gone.jpg"},
                {"id": 3, "file_name": "junk.jpg"},
                {"id": 4, "file_name": "000285.png"},
                {"file_name": "x.jpg"},
            ],
            [
                {"image_id": 1, "caption": "ok"},
                {"image_id": 2, "caption": "ok"},
                {"image_id": 3, "caption": "ok"},
                {"image_id": 9, "caption": "orphan"},
                {"image_id": 1},
            ],
        ),
        "images/junk.jpg": b"not a jpeg",
    }
    errs = fails(tmp_path / "c", "coco-captions", broken)
    c = "captions.json"
    one(errs, c, 3, "images[1]: duplicate image id 1 (first at captions.json line 2)")
    one(errs, c, 7, "images[5]: missing field 'id'")
    one(errs, c, 13, "annotations[3]: image_id 9 is not among the images")
    one(errs, c, 14, "annotations[4]: missing field 'caption'")
    one(errs, c, 4, "image: file 'images/gone.jpg' is not among the dataset's files")
    one(errs, c, 5, "image: file 'images/junk.jpg' does not decode as an image")
    one(errs, c, 6, "captions: List should have at least 1 item")  # image 4 has no caption
    assert len(errs) == 7


# --- ADE20K --------------------------------------------------------------------------------

OBJECT_INFO = b"Idx\tRatio\tTrain\tVal\tName\n1\t0.1576\t11664\t1172\twall\n2\t0.1072\t6046\t612\tbuilding;edifice\n"
ADE: Files = {
    "objectInfo150.txt": OBJECT_INFO,
    "images/ADE_val_00000001.jpg": s.jpeg((8, 6)),
    "annotations/ADE_val_00000001.png": s.png("L", (8, 6), 2),
    "images/ADE_val_00000002.png": s.png("RGB", (8, 6)),
    "annotations/ADE_val_00000002.png": s.png("L", (8, 6), 0),
}


def test_ade20k(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_media("ade20k", write_tree(tmp_path / "in", ADE), out, name="ade-mini")
    c = card(out)
    assert c["classes"] == ["other", "wall", "building;edifice"] and c["ignore_index"] == 0
    assert manifest(out)[0] == {
        "id": "ADE_val_00000001",
        "image": "images/ADE_val_00000001.jpg",
        "mask": "annotations/ADE_val_00000001.png",
    }
    assert len(manifest(out)) == 2


def test_class_list_formats(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"Idx,Ratio,Train,Val,Name\n1,0.1,1,1,wall\n2,0.1,1,1,floor\n")
    assert read_class_list(tmp_path / "a.csv") == ["wall", "floor"]
    (tmp_path / "b.txt").write_bytes(b"wall\nfloor\n\n")
    assert read_class_list(tmp_path / "b.txt") == ["wall", "floor"]


def test_ade20k_broken(tmp_path: Path) -> None:
    bad_idx = {**ADE, "objectInfo150.txt": OBJECT_INFO + b"4\t0.1\t1\t1\tsky\n5\t0.1\t1\ttree\n"}
    errs = fails(tmp_path / "a", "ade20k", bad_idx)
    one(errs, "objectInfo150.txt", 4, "Idx '4', expected 3")
    one(errs, "objectInfo150.txt", 5, "4 columns, the header has 5")
    bad_utf8 = {**ADE, "objectInfo150.txt": OBJECT_INFO + b"3\t0.1\t1\t1\t\xfe\n"}
    one(fails(tmp_path / "b", "ade20k", bad_utf8), "objectInfo150.txt", 4, "not valid UTF-8")
    broken = {
        **ADE,
        "annotations/ADE_val_00000001.png": s.png("L", (8, 6), 9),  # class id 9 of 3
        "images/ADE_val_00000003.jpg": s.jpeg(),  # no mask
        "annotations/ADE_val_00000004.png": s.png("L"),  # no image
        "images/ADE_val_00000005.png": s.png(),
        "annotations/ADE_val_00000005.png": s.png("RGB"),
    }
    errs = fails(tmp_path / "c", "ade20k", broken)
    one(errs, "images/ADE_val_00000001.jpg", None, "has class ids 9 but the card has 3 classes")
    one(
        errs,
        "images/ADE_val_00000003.jpg",
        None,
        "mask: file 'annotations/ADE_val_00000003.png' is not among the dataset's files",
    )
    one(errs, "annotations/ADE_val_00000004.png", None, "no image with stem 'ADE_val_00000004'")
    one(errs, "images/ADE_val_00000005.png", None, "a mask must be single-channel")
    assert len(errs) == 4


# --- NYU / KITTI depth ---------------------------------------------------------------------

DEPTH: Files = {
    "rgb/0001.png": s.png("RGB", (8, 6)),
    "depth/0001.png": s.png("I;16", (8, 6), 2500),
    "rgb/0002.jpg": s.jpeg((8, 6)),
    "depth/0002.png": s.png("I;16", (8, 6), 0),
}


def test_nyu_and_kitti_depth(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "in", DEPTH)
    import_media("nyu-depth", src, tmp_path / "nyu", name="nyu-mini")
    c = card(tmp_path / "nyu")
    assert (c["depth_scale"], c["min_depth"], c["max_depth"], c["crop"]) == (
        1000.0,
        0.001,
        10.0,
        "eigen",
    )
    assert manifest(tmp_path / "nyu")[1] == {
        "id": "0002",
        "image": "rgb/0002.jpg",
        "depth": "depth/0002.png",
    }
    import_media("kitti-depth", src, tmp_path / "kitti", name="kitti-mini", max_depth=50.0)
    c = card(tmp_path / "kitti")
    assert (c["depth_scale"], c["max_depth"], c["crop"]) == (256.0, 50.0, "garg")


def test_depth_broken(tmp_path: Path) -> None:
    broken = {
        **DEPTH,
        "depth/0001.png": s.png("L", (8, 6), 30),  # 8-bit
        "rgb/0003.png": s.png(),  # no depth map
        "rgb/0004.png": s.png("RGB", (8, 6)),
        "depth/0004.png": s.png("I;16", (16, 12), 1),  # wrong size
    }
    errs = fails(tmp_path, "kitti-depth", broken)
    one(errs, "rgb/0001.png", None, "must be a 16-bit grayscale PNG")
    one(errs, "rgb/0003.png", None, "depth: file 'depth/0003.png' is not among")
    one(
        errs,
        "rgb/0004.png",
        None,
        "depth 'depth/0004.png' is 16x12 but image 'rgb/0004.png' is 8x6",
    )
    assert len(errs) == 3


# --- FlagEvalMM VQA ------------------------------------------------------------------------


def vqa_json(entries: list[Any]) -> bytes:
    """One entry a line: entry i on line 2+i."""
    return ("[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n").encode()


VQA_ENTRIES: list[dict[str, Any]] = [
    {
        "question_id": 1,
        "img_path": "img/a.png",
        "question": "Colour?",
        "answer": "red",
        "question_type": "color",
    },
    {
        "question_id": "q2",
        "img_path": ["img/a.png", "img/b.jpg"],
        "question": "Same?",
        "answer": ["no", "No"],
        "question_type": "yes/no",
    },
]
VQA: Files = {"data.json": vqa_json(VQA_ENTRIES), "img/a.png": s.png(), "img/b.jpg": s.jpeg()}


def test_flageval_vqa(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_media("flageval-vqa", write_tree(tmp_path / "in", VQA), out, name="vqa-mini")
    assert card(out)["kind"] == "vqa" and card(out)["domain"] == "multimodal"
    assert manifest(out) == [
        {
            "id": "1",
            "images": ["img/a.png"],
            "question": "Colour?",
            "question_type": "color",
            "answers": ["red"],
        },
        {
            "id": "q2",
            "images": ["img/a.png", "img/b.jpg"],
            "question": "Same?",
            "question_type": "yes/no",
            "answers": ["no", "No"],
        },
    ]


def test_flageval_vqa_broken(tmp_path: Path) -> None:
    one(
        fails(tmp_path / "a", "flageval-vqa", {**VQA, "data.json": b"[\n{\n]"}),
        "data.json",
        3,
        "not valid JSON",
    )
    one(
        fails(tmp_path / "b", "flageval-vqa", {**VQA, "data.json": b"[\n\x80]"}),
        "data.json",
        2,
        "not valid UTF-8",
    )
    entries = [
        *VQA_ENTRIES,
        {k: v for k, v in VQA_ENTRIES[0].items() if k != "question_id"},  # 3: missing field
        {**VQA_ENTRIES[0]},  # 4: duplicate id
        {**VQA_ENTRIES[0], "question_id": 5, "img_path": "img/gone.png"},  # 5: missing file
        {**VQA_ENTRIES[0], "question_id": 6, "img_path": "img/junk.png"},  # 6: does not decode
        {**VQA_ENTRIES[0], "question_id": 7, "img_path": "../../etc/passwd"},  # 7: traversal
        {**VQA_ENTRIES[0], "question_id": 8, "answer": ""},  # 8: blank answer
        "just a string",  # 9
        {**VQA_ENTRIES[0], "question_id": 10, "options": ["a"]},  # 10: unknown field
    ]
    errs = fails(
        tmp_path / "c",
        "flageval-vqa",
        {**VQA, "data.json": vqa_json(entries), "img/junk.png": b"\x00" * 64},
    )
    d = "data.json"
    one(errs, d, 4, "[2]: missing field(s) question_id")
    one(errs, d, 5, "duplicate id '1' (first at data.json line 2)")
    one(errs, d, 6, "images[0]: file 'img/gone.png' is not among")
    one(errs, d, 7, "images[0]: file 'img/junk.png' does not decode")
    one(errs, d, 8, "images.0: path '../../etc/passwd' has an empty, '.' or '..' component")
    one(errs, d, 9, "answers.0: String should have at least 1 character")
    one(errs, d, 10, "[8]: not a JSON object")
    one(errs, d, 11, "[9]: unknown field(s) options")
    assert sorted(ln or 0 for _, ln, _ in errs) == [4, 5, 6, 7, 8, 9, 10, 11]


# --- Speech Commands -----------------------------------------------------------------------

SPEECH: Files = {
    "yes/0a7c2a8d_nohash_0.wav": s.wav(),
    "yes/0b09edd3_nohash_0.wav": s.wav(),
    "no/0a7c2a8d_nohash_0.wav": s.wav(freq=220),
    "_background_noise_/white_noise.wav": s.wav(),
    "testing_list.txt": b"yes/0b09edd3_nohash_0.wav\nno/0a7c2a8d_nohash_0.wav\n",
}


def test_speech_commands(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "in", SPEECH)
    import_media("speech-commands", src, tmp_path / "test", name="sc-mini")
    assert card(tmp_path / "test")["classes"] == ["no", "yes"]
    assert manifest(tmp_path / "test") == [
        {"id": "yes/0b09edd3_nohash_0", "audio": "audio/yes/0b09edd3_nohash_0.wav", "label": "yes"},
        {"id": "no/0a7c2a8d_nohash_0", "audio": "audio/no/0a7c2a8d_nohash_0.wav", "label": "no"},
    ]
    import_media("speech-commands", src, tmp_path / "all", name="sc-mini", split="all")
    assert len(manifest(tmp_path / "all")) == 3  # background noise is not a class


def test_speech_commands_broken(tmp_path: Path) -> None:
    listing = b"yes/0b09edd3_nohash_0.wav\nmaybe/0a7c2a8d_nohash_0.wav\nno/missing.wav\nyes/0a7c2a8d_nohash_0.wav\nflat.wav\n"
    broken = {**SPEECH, "testing_list.txt": listing, "yes/0a7c2a8d_nohash_0.wav": s.wav(1600)[:-50]}
    errs = fails(tmp_path / "a", "speech-commands", broken)
    t = "testing_list.txt"
    one(errs, t, 2, "label 'maybe' is not one of the card's classes (no, yes)")
    one(errs, t, 2, "audio: file 'audio/maybe/0a7c2a8d_nohash_0.wav' is not among")
    one(errs, t, 3, "audio: file 'audio/no/missing.wav' is not among the dataset's files")
    one(errs, t, 4, "truncated WAV")
    one(errs, t, 5, "'flat.wav' is not 'label/clip.wav'")
    assert len(errs) == 5
    bad_utf8 = {**SPEECH, "testing_list.txt": b"yes/a.wav\nno/\xff.wav\n"}
    one(
        fails(tmp_path / "b", "speech-commands", bad_utf8), "testing_list.txt", 2, "not valid UTF-8"
    )


# --- LibriSpeech ---------------------------------------------------------------------------

LIBRI: Files = {
    "1272/128104/1272-128104.trans.txt": b"1272-128104-0000 MISTER QUILTER IS THE APOSTLE\n1272-128104-0001 NOR IS MISTER QUILTER'S MANNER\n",
    "1272/128104/1272-128104-0000.flac": s.flac(),
    "1272/128104/1272-128104-0001.wav": s.wav(),
    "2277/149896/2277-149896.trans.txt": b"2277-149896-0000 HE WAS IN A FEVERED STATE\n",
    "2277/149896/2277-149896-0000.flac": s.flac(320),
}


def test_librispeech(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_media(
        "librispeech", write_tree(tmp_path / "in", LIBRI), out, name="ls-mini", language="en"
    )
    assert card(out)["kind"] == "speech_recognition" and card(out)["metric"] == "wer"
    assert manifest(out)[1] == {
        "id": "1272-128104-0001",
        "audio": "1272/128104/1272-128104-0001.wav",
        "transcript": "NOR IS MISTER QUILTER'S MANNER",
    }
    assert len(manifest(out)) == 3


def test_librispeech_broken(tmp_path: Path) -> None:
    broken = {
        **LIBRI,
        "1272/128104/1272-128104.trans.txt": (
            b"1272-128104-0000 MISTER QUILTER\n1272-128104-0001\n1272-128104-0002 GONE\n"
            b"1272-128104-0000 AGAIN\n1272-128104-0003 JUNK\n"
        ),
        "1272/128104/1272-128104-0003.flac": b"fLaC" + b"\x00" * 10,
        "2277/149896/2277-149896.trans.txt": b"2277-149896-0000 HE WAS IN A \xe9TAT\n",
    }
    errs = fails(tmp_path, "librispeech", broken)
    label = "1272/128104/1272-128104.trans.txt"
    one(errs, label, 2, "'1272-128104-0001' has no transcript")
    one(errs, label, 3, "audio: file '1272/128104/1272-128104-0002.flac' is not among")
    one(errs, label, 4, f"duplicate id '1272-128104-0000' (first at {label} line 1)")
    one(errs, label, 5, "does not decode as FLAC: STREAMINFO block missing")
    one(errs, "2277/149896/2277-149896.trans.txt", 1, "not valid UTF-8")
    assert len(errs) == 5


# --- CLI -----------------------------------------------------------------------------------


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_tree(tmp_path / "in", DEPTH)
    rc = main(
        [
            "nyu-depth",
            str(src),
            str(tmp_path / "out"),
            "--name",
            "nyu-mini",
            "--crop",
            "none",
            "--max-depth",
            "8",
        ]
    )
    assert rc == 0
    assert "2 items, 4 files, content sha256" in capsys.readouterr().out
    c = card(tmp_path / "out")
    assert (c["crop"], c["max_depth"], c["depth_scale"]) == ("none", 8.0, 1000.0)
    write_tree(src, {"depth/0002.png": s.png("L")})
    rc = main(["nyu-depth", str(src), str(tmp_path / "out2"), "--name", "nyu-mini"])
    assert rc == 1
    assert "rgb/0002.jpg: depth: file 'depth/0002.png' is a L PNG" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_cli_as_module(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "in", VQA)
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    res = run(
        [
            sys.executable,
            "-m",
            "flageval_datasets.media",
            "flageval-vqa",
            str(src),
            str(tmp_path / "out"),
            "--name",
            "v",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert len(manifest(tmp_path / "out")) == 2
