"""Importers of the public NLP formats, on fixtures written in those exact formats
(tests/fixtures/nlp/, our own text) and on broken variants of them."""

from __future__ import annotations

import inspect
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from flageval_datasets import DatasetError, LineError, load_dataset
from flageval_datasets.importers import (
    FORMAT_TABLE,
    FORMATS,
    convert,
    convert_upload,
    import_dataset,
    main,
    open_folder,
)
from flageval_datasets.importers import sources as sources_mod

FIX = Path(__file__).parent / "fixtures" / "nlp"


def tree(folder: str, *, drop: tuple[str, ...] = (), **replace: bytes) -> dict[str, bytes]:
    """The fixture folder as {relative path: bytes}; ``replace`` keys use ``__`` for ``/``."""
    root = FIX / folder
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    for k in drop:
        del files[k]
    files.update({k.replace("__", "/"): v for k, v in replace.items()})
    return files


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_of(files: dict[str, bytes], mode: str = "w:gz", prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def errors_of(fn, *args, **kw) -> list[str]:
    with pytest.raises(DatasetError) as ei:
        fn(*args, **kw)
    return [str(e) for e in ei.value.errors]


def roundtrips(card: bytes, data: bytes, ds) -> None:
    assert load_dataset(card, data).content_sha256 == ds.content_sha256


# ---------------------------------------------------------------- the table and the API


def test_every_format_is_described_once_and_convert_upload_keeps_its_signature():
    assert set(FORMATS) == set(FORMAT_TABLE)
    assert {"mmlu", "cmmlu", "ceval", "gsm8k-jsonl", "hellaswag-jsonl", "arc-jsonl"} <= set(FORMATS)
    assert {"boolq-jsonl", "truthfulqa-mc1"} <= set(FORMATS)
    assert all(len(d) > 20 for d in FORMATS.values())
    sig = inspect.signature(convert_upload)
    assert list(sig.parameters) == [
        "fmt",
        "payload",
        "name",
        "language",
        "version",
        "few_shot",
        "split",
    ]
    kw_only = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in kw_only] == ["name", "language", "version", "few_shot", "split"]
    assert sig.parameters["version"].default == "1"
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        convert_upload("nope", b"x", name="n", language="en")


# ---------------------------------------------------------------- MMLU


def test_mmlu_folder_is_one_dataset_with_subjects_and_dev_exemplars():
    card, data, ds = import_dataset("mmlu", open_folder(FIX / "mmlu"), name="mmlu", language="en")
    assert ds.card.task.value == "choice_qa" and ds.card.metric.value == "accuracy"
    assert ds.card.few_shot == 5
    assert [i.id for i in ds.items] == [
        "abstract_algebra-1",
        "abstract_algebra-2",
        "abstract_algebra-3",
        "anatomy-1",
        "anatomy-2",
        "anatomy-3",
        "anatomy-4",
    ]
    assert [i.label for i in ds.items] == ["C", "B", "B", "A", "C", "B", "C"]
    assert [(i.meta or {})["subject"] for i in ds.items].count("anatomy") == 4
    assert ds.items[5].input == "Which part of the brain\nkeeps balance?"  # a quoted newline
    assert len(ds.dev) == 10 and ds.dev[0].id == "abstract_algebra-dev-1"
    assert {(d.meta or {})["subject"] for d in ds.dev} == {"abstract_algebra", "anatomy"}
    assert all("race" not in i.id for i in [*ds.items, *ds.dev])  # auxiliary_train ignored
    roundtrips(card, data, ds)
    # the val split on request, same dev exemplars
    _, _, val = import_dataset(
        "mmlu", open_folder(FIX / "mmlu"), name="mmlu", language="en", split="val"
    )
    assert [i.id for i in val.items] == ["abstract_algebra-1", "anatomy-1"]
    assert len(val.dev) == 10
    with pytest.raises(ValueError, match="split 'train' unknown for mmlu; one of test, val"):
        convert_upload("mmlu", zip_of(tree("mmlu")), name="m", language="en", split="train")


@pytest.mark.parametrize(
    "pack",
    [
        zip_of,
        lambda f: tar_of(f, "w:gz"),
        lambda f: tar_of(f, "w"),
        lambda f: tar_of(f, "w:gz", prefix="./mmlu/"),
    ],
    ids=["zip", "tar.gz", "tar", "tar.gz-nested"],
)
def test_mmlu_archives_give_the_same_dataset_as_the_folder(pack):
    _, _, folder = import_dataset("mmlu", open_folder(FIX / "mmlu"), name="mmlu", language="en")
    card, data, ds = convert_upload("mmlu", pack(tree("mmlu")), name="mmlu", language="en")
    assert ds.content_sha256 == folder.content_sha256
    roundtrips(card, data, ds)
    # few-shot and version are the caller's
    _, _, zero = convert_upload(
        "mmlu", pack(tree("mmlu")), name="mmlu", language="en", few_shot=0, version="2"
    )
    assert zero.card.few_shot == 0 and zero.card.version == "2"


def mmlu_upload(replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> object:
    files = tree("mmlu", drop=drop)
    files.update(replace or {})
    return convert_upload("mmlu", zip_of(files), name="m", language="en")


def test_mmlu_broken_variants_name_the_file_and_line():
    path = "data/test/anatomy_test.csv"
    lines = (FIX / "mmlu" / path).read_bytes().split(b"\n")
    assert lines[1].endswith(b",C")
    wrong_label = b"\n".join([lines[0], lines[1][:-1] + b"E", *lines[2:]])
    assert errors_of(mmlu_upload, {path: wrong_label}) == [
        f"{path} line 2: answer 'E' is not one of A, B, C, D"
    ]
    missing = b"\n".join([lines[0], b"Only a question,a,b,c,A", *lines[2:]])
    assert errors_of(mmlu_upload, {path: missing}) == [
        f"{path} line 2: expected 6 columns (question,A,B,C,D,answer), got 5"
    ]
    # the quoted question spans lines 3-4, so the next record starts on line 5
    bad_utf8 = b"\n".join([*lines[:4], b"Caf\xe9?,a,b,c,d,A", *lines[4:]])
    assert errors_of(mmlu_upload, {path: bad_utf8}) == [f"{path} line 5: not valid UTF-8"]
    # errors in several files are all reported, each with its file
    dev = "data/dev/abstract_algebra_dev.csv"
    errs = errors_of(mmlu_upload, {path: wrong_label, dev: b"q,a,b,c,d,A\nq2,a,,c,d,B\n"})
    assert f"{dev} line 2: an option is empty" in errs and len(errs) == 2
    # a subject without its dev file cannot be 5-shot
    assert errors_of(mmlu_upload, drop=("data/dev/anatomy_dev.csv",)) == [
        "dev/ (no file for 'anatomy'): few_shot is 5 but subject 'anatomy' has 0 dev items"
    ]
    # no test folder at all
    only_dev = {k: v for k, v in tree("mmlu").items() if "/dev/" in k}
    with pytest.raises(DatasetError, match=r"upload: no test/ files found for mmlu"):
        convert_upload("mmlu", zip_of(only_dev), name="m", language="en")
    # a single CSV is not the folder format
    with pytest.raises(DatasetError, match=r"mmlu needs the data folder or a \.zip/\.tar"):
        convert_upload("mmlu", lines[0] + b"\n", name="m", language="en")


def test_line_error_names_its_file_without_changing_old_messages():
    assert str(LineError(3, "boom")) == "line 3: boom"
    assert str(LineError(None, "boom")) == "card: boom"
    assert str(LineError(3, "boom", "test/a_test.csv")) == "test/a_test.csv line 3: boom"
    assert str(LineError(None, "boom", "upload")) == "upload: boom"


# ---------------------------------------------------------------- CMMLU and C-Eval


def test_cmmlu_folder_with_its_unnamed_index_header():
    card, data, ds = convert_upload("cmmlu", tar_of(tree("cmmlu")), name="cmmlu", language="zh")
    assert [i.id for i in ds.items][:4] == [
        "agronomy-0",
        "agronomy-1",
        "agronomy-2",
        "chinese_history-0",
    ]
    assert len(ds.items) == 7 and len(ds.dev) == 10 and ds.card.few_shot == 5
    assert ds.items[0].choices == ["氧气", "氮气", "二氧化碳", "氢气"] and ds.items[0].label == "B"
    assert ds.items[0].meta == {"subject": "agronomy"}
    roundtrips(card, data, ds)


def test_cmmlu_broken_variants():
    path = "data/test/agronomy.csv"
    good = (FIX / "cmmlu" / path).read_text(encoding="utf-8")

    def up(text: str) -> object:
        files = tree("cmmlu")
        files[path] = text.encode()
        return convert_upload("cmmlu", zip_of(files), name="c", language="zh")

    header_no_index = good.replace(",Question,A,B,C,D,Answer", "Question,A,B,C,D,Answer,X", 1)
    assert errors_of(up, header_no_index)[0].startswith(
        f"{path} line 1: header must be ',Question,A,B,C,D,Answer'"
    )
    no_d = good.replace(",Question,A,B,C,D,Answer", ",Question,A,B,C,Dx,Answer", 1)
    assert errors_of(up, no_d) == [f"{path} line 1: header lacks column(s): D"]
    dup = good.replace("\n1,", "\n0,", 1)
    assert errors_of(up, dup) == [f"{path} line 3: duplicate id '0' (first on line 2)"]
    short = good.replace(",柑橘,A", ",A", 1)
    assert errors_of(up, short) == [f"{path} line 3: expected 7 columns, got 6"]


def test_ceval_val_split_with_dev_explanations():
    card, data, ds = import_dataset(
        "ceval", open_folder(FIX / "ceval"), name="ceval", language="zh"
    )
    assert [i.id for i in ds.items] == [
        "computer_network-0",
        "computer_network-1",
        "high_school_physics-0",
        "high_school_physics-1",
        "high_school_physics-2",
    ]
    assert [i.label for i in ds.items] == ["C", "C", "A", "C", "D"]
    assert ds.dev[0].meta == {
        "subject": "computer_network",
        "explanation": "1. HTTP 默认端口为 80。",
    }
    assert ds.items[0].meta == {"subject": "computer_network"}
    roundtrips(card, data, ds)
    with pytest.raises(ValueError, match="split 'test' unknown for ceval; one of val"):
        convert_upload("ceval", zip_of(tree("ceval")), name="c", language="zh", split="test")


def test_ceval_broken_variants():
    path = "val/high_school_physics_val.csv"
    good = (FIX / "ceval" / path).read_text(encoding="utf-8")

    def up(text: str) -> object:
        files = tree("ceval")
        files[path] = text.encode()
        return convert_upload("ceval", zip_of(files), name="c", language="zh")

    # the public test split has no answer column
    no_answer = good.replace("id,question,A,B,C,D,answer", "id,question,A,B,C,D", 1)
    assert errors_of(up, no_answer) == [f"{path} line 1: header lacks column(s): answer"]
    dup = good.replace("\n2,", "\n1,", 1)
    assert errors_of(up, dup) == [f"{path} line 4: duplicate id '1' (first on line 3)"]
    assert errors_of(up, good.replace(",零,", ",,", 1)) == [f"{path} line 2: an option is empty"]


# ---------------------------------------------------------------- the JSONL formats


def test_gsm8k_public_file_and_train_exemplars():
    test = (FIX / "gsm8k/test.jsonl").read_bytes()
    card, data, ds = convert_upload("gsm8k-jsonl", test, name="gsm8k", language="en")
    assert ds.card.task.value == "math" and ds.card.metric.value == "exact_match"
    assert ds.card.few_shot == 0 and ds.dev == []  # no exemplars given
    assert [i.label for i in ds.items] == ["16", "36", "3000"]
    assert ds.items[0].meta == {
        "solution": "Mira bakes 3*12 = <<3*12=36>>36 rolls.\n"
        "She has 36-20 = <<36-20=16>>16 rolls left.\n#### 16"
    }
    roundtrips(card, data, ds)
    # the public folder: test.jsonl + train.jsonl -> 5-shot, the first 5 of train kept
    _, _, shot = convert_upload("gsm8k-jsonl", tar_of(tree("gsm8k")), name="g", language="en")
    assert shot.card.few_shot == 5
    assert [d.id for d in shot.dev] == ["dev-1", "dev-2", "dev-3", "dev-4", "dev-5"]
    assert shot.dev[0].label == "5"
    errs = errors_of(
        convert_upload,
        "gsm8k-jsonl",
        test + b'{"question": "q", "answer": "no marker"}\n{oops\n',
        name="g",
        language="en",
    )
    assert errs == [
        "upload line 4: answer missing or without '#### <number>'",
        "upload line 5: not valid JSON (Expecting property name enclosed in double quotes)",
    ]


def test_hellaswag_context_endings_and_label():
    card, data, ds = convert_upload(
        "hellaswag-jsonl",
        (FIX / "hellaswag/hellaswag_val.jsonl").read_bytes(),
        name="h",
        language="en",
    )
    first, wiki = ds.items[0], ds.items[1]
    assert first.id == "14" and first.label == "C"
    assert first.input == "Painting a fence: A woman dips a brush into a can of white paint. She"
    assert (
        first.choices is not None
        and first.choices[2] == "spreads the paint along the wooden boards."
    )
    # lm-eval's clean-up: " [title]" -> ". ", other [markers] dropped, ctx_b capitalised
    assert wiki.input == (
        "Home and Garden: How to water a cactus. Check the soil first. Push a finger into the soil"
    )
    assert wiki.choices is not None
    assert wiki.choices[0] == "to see if it is dry. Water only when the top inch is dry."
    assert wiki.meta == {
        "activity_label": "Home and Garden",
        "source_id": "wikihow~fixture_002",
        "split_type": "zeroshot",
    }
    roundtrips(card, data, ds)
    good = json.loads((FIX / "hellaswag/hellaswag_val.jsonl").read_text().splitlines()[0])
    unlabelled = {k: v for k, v in good.items() if k != "label"}
    bad = b"\n".join(
        json.dumps(o).encode()
        for o in [
            good,
            unlabelled,
            {**good, "ind": 15, "label": 4},
            {**good, "ind": 16, "endings": ["a", "b", "c"]},
            good,
        ]
    )
    assert errors_of(convert_upload, "hellaswag-jsonl", bad, name="h", language="en") == [
        "upload line 2: label missing (the public test split has no labels; use val)",
        "upload line 3: label 4 is not 0, 1, 2 or 3",
        "upload line 4: endings must be a list of 4 strings",
        "upload line 5: duplicate id '14' (first on line 1)",
    ]
    # with hellaswag_train.jsonl beside it: few-shot exemplars, default 10 when enough
    train = b"".join(
        json.dumps({**good, "ind": 100 + n, "split": "train"}).encode() + b"\n" for n in range(12)
    )
    files = {"hellaswag_val.jsonl": (FIX / "hellaswag/hellaswag_val.jsonl").read_bytes()}
    _, _, shot = convert_upload(
        "hellaswag-jsonl",
        zip_of({**files, "hellaswag_train.jsonl": train}),
        name="h",
        language="en",
    )
    assert shot.card.few_shot == 10 and len(shot.dev) == 10 and shot.dev[0].id == "dev-100"


def test_arc_letter_and_numeric_labels_map_by_position():
    card, data, ds = convert_upload(
        "arc-jsonl", (FIX / "arc/ARC-Challenge-Test.jsonl").read_bytes(), name="arc", language="en"
    )
    assert [(i.id, i.label, len(i.choices or [])) for i in ds.items] == [
        ("Fixture_SC_0001", "B", 4),
        ("Fixture_2009_5_12", "C", 4),  # answerKey "3" of labels 1..4
        ("Fixture_LBS10077", "D", 5),
        ("Fixture_TX_0042", "A", 3),
    ]
    assert ds.items[1].choices == ["friction", "magnetism", "gravity", "buoyancy"]
    roundtrips(card, data, ds)
    good = json.loads((FIX / "arc/ARC-Challenge-Test.jsonl").read_text().splitlines()[1])
    bad = (
        b"\n".join(
            json.dumps(o).encode()
            for o in [
                good,
                {**good, "id": "x2", "answerKey": "5"},
                {**good, "id": "x3", "question": {"stem": "q", "choices": [{"text": "a"}]}},
                {**good, "id": "x4", "question": {"choices": good["question"]["choices"]}},
                good,
            ]
        )
        + b"\n\xff\xfe\n"
    )
    errs = errors_of(convert_upload, "arc-jsonl", bad, name="a", language="en")
    assert errs == ["upload line 6: not valid UTF-8"]  # the file does not decode: that alone
    errs = errors_of(convert_upload, "arc-jsonl", bad.rsplit(b"\n", 2)[0], name="a", language="en")
    assert errs == [
        "upload line 2: answerKey '5' is not one of the labels 1, 2, 3, 4",
        "upload line 3: question.choices must be a list of {text, label}",
        "upload line 4: question.stem missing or empty",
        "upload line 5: duplicate id 'Fixture_2009_5_12' (first on line 1)",
    ]
    # the public archive holds Challenge and Easy: ambiguous, say so
    two = {"ARC-Challenge/ARC-Challenge-Test.jsonl": b"", "ARC-Easy/ARC-Easy-Test.jsonl": b""}
    with pytest.raises(DatasetError, match="several test split files"):
        convert_upload("arc-jsonl", zip_of(two), name="a", language="en")


def test_boolq_passage_question_yes_no():
    card, data, ds = convert_upload(
        "boolq-jsonl", (FIX / "boolq/dev.jsonl").read_bytes(), name="boolq", language="en"
    )
    assert [i.label for i in ds.items] == ["A", "B", "A"]
    assert all(i.choices == ["yes", "no"] for i in ds.items)
    assert ds.items[1].input.endswith("\nQuestion: can penguins fly through the air?")
    assert ds.items[1].input.startswith("Penguins are a group of flightless birds")
    assert ds.card.prompt_template == "{input}\n{choices}\nAnswer:"
    roundtrips(card, data, ds)
    bad = (
        b'{"question": "q", "passage": "p", "answer": "true"}\n{"question": "q", "answer": false}\n'
    )
    assert errors_of(convert_upload, "boolq-jsonl", bad, name="b", language="en") == [
        "upload line 1: answer 'true' is not true or false",
        "upload line 2: passage missing or empty",
    ]


def test_truthfulqa_mc1_from_mc_task_json_and_hf_jsonl():
    card, data, ds = convert_upload(
        "truthfulqa-mc1", (FIX / "truthfulqa/mc_task.json").read_bytes(), name="tqa", language="en"
    )
    assert [len(i.choices or []) for i in ds.items] == [4, 3, 4]
    # The public files put the true choice first; the import reorders the choices (stably, by
    # the question), so "always A" is not always right, and the label follows the true one.
    source = json.loads((FIX / "truthfulqa/mc_task.json").read_text())
    for item, original in zip(ds.items, source, strict=True):
        truth = next(c for c, v in original["mc1_targets"].items() if v == 1)
        assert item.choices is not None
        assert item.choices[ord(item.label) - ord("A")] == truth.strip()
        assert sorted(item.choices) == sorted(c.strip() for c in original["mc1_targets"])
    assert {i.label for i in ds.items} != {"A"}
    again = convert_upload(
        "truthfulqa-mc1", (FIX / "truthfulqa/mc_task.json").read_bytes(), name="tqa", language="en"
    )[2]
    assert [i.choices for i in again.items] == [i.choices for i in ds.items]  # stable
    roundtrips(card, data, ds)
    _, _, hf = convert_upload(
        "truthfulqa-mc1",
        (FIX / "truthfulqa/truthfulqa_mc.jsonl").read_bytes(),
        name="tqa",
        language="en",
    )
    assert hf.content_sha256 == ds.content_sha256
    # the label follows the true choice wherever the 1 is
    moved = {"question": "q?", "mc1_targets": {"choices": ["x", "y", "z"], "labels": [0, 0, 1]}}
    _, _, one = convert_upload(
        "truthfulqa-mc1", json.dumps(moved).encode(), name="t", language="en"
    )
    choices = one.items[0].choices
    assert choices is not None and choices[ord(one.items[0].label) - ord("A")] == "z"
    # errors carry the line where the array element starts
    arr = json.loads((FIX / "truthfulqa/mc_task.json").read_text())
    arr[1]["mc1_targets"] = dict.fromkeys(arr[1]["mc1_targets"], 1)
    text = json.dumps(arr, indent=2).encode()
    second = text.decode().split("\n").index("  {", 2) + 1
    assert errors_of(convert_upload, "truthfulqa-mc1", text, name="t", language="en") == [
        f"upload line {second}: mc1_targets must mark exactly one choice 1, got 3"
    ]
    broken = b'[\n  {"question": "q", "mc1_targets": {"a": 1, "b": 0}},\n  {"question": \n]\n'
    assert errors_of(convert_upload, "truthfulqa-mc1", broken, name="t", language="en") == [
        "upload line 4: not valid JSON (Expecting value)"
    ]


def test_few_shot_needs_exemplars_and_hostile_json_is_a_line_error():
    test = (FIX / "gsm8k/test.jsonl").read_bytes()
    assert errors_of(convert_upload, "gsm8k-jsonl", test, name="g", language="en", few_shot=2) == [
        "upload: few_shot is 2 but no exemplars were given "
        "(a training file beside the data, or --dev)"
    ]
    few = {"test.jsonl": test, "train.jsonl": b"\n".join(test.split(b"\n")[:2]) + b"\n"}
    assert errors_of(convert_upload, "gsm8k-jsonl", zip_of(few), name="g", language="en") == [
        "train.jsonl: few_shot is 5 but the exemplar file has only 2 items"
    ]
    hostile = test + b'{"question": ' + b"9" * 5000 + b"}\n" + b"[" * 5000 + b"]" * 5000 + b"\n"
    errs = errors_of(convert_upload, "gsm8k-jsonl", hostile, name="g", language="en")
    assert [e.split(":")[0] for e in errs] == ["upload line 4", "upload line 5"]
    assert all("not usable JSON" in e for e in errs)


# ---------------------------------------------------------------- archives are hostile input


def test_archive_members_outside_the_folder_links_and_bombs_are_refused(monkeypatch):
    files = tree("mmlu")
    for evil in ("../evil.csv", "/etc/evil.csv", "data/../../evil.csv", "C:/evil.csv"):
        with pytest.raises(DatasetError, match="refused"):
            convert_upload("mmlu", zip_of({**files, evil: b"x"}), name="m", language="en")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("data/test/anatomy_test.csv")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(DatasetError, match="is a link or special file: refused"):
        convert_upload("mmlu", buf.getvalue(), name="m", language="en")
    monkeypatch.setattr(sources_mod, "MAX_TOTAL_BYTES", 500)
    with pytest.raises(DatasetError, match="upload: expands to more than 0 MiB: refused"):
        convert_upload("mmlu", tar_of(files), name="m", language="en")
    monkeypatch.setattr(sources_mod, "MAX_TOTAL_BYTES", 10**9)
    monkeypatch.setattr(sources_mod, "MAX_MEMBERS", 3)
    with pytest.raises(DatasetError, match="upload: more than 3 files: refused"):
        convert_upload("mmlu", zip_of(files), name="m", language="en")
    for junk in (b"PK\x03\x04garbage", b"\x1f\x8b\x08\x00garbage", zip_of(files)[:200]):
        with pytest.raises(DatasetError, match=r"upload: not a readable \.zip/\.tar/\.tar\.gz"):
            convert_upload("mmlu", junk, name="m", language="en")


def test_macos_leftovers_in_archives_are_ignored():
    files = tree("mmlu")
    files["__MACOSX/data/test/._anatomy_test.csv"] = b"\x00\x05\x16\x07junk"
    files["data/test/.hidden_test.csv"] = b"\xff"
    _, _, ds = convert_upload("mmlu", zip_of(files), name="m", language="en")
    assert len(ds.items) == 7


# ---------------------------------------------------------------- the CLI


def test_cli_imports_a_folder_and_writes_nothing_on_error(tmp_path):
    out = tmp_path / "out"
    assert main(["mmlu", str(FIX / "mmlu"), str(out), "--name", "mmlu", "--language", "en"]) == 0
    ds = load_dataset((out / "card.json").read_bytes(), (out / "data.jsonl").read_bytes())
    assert len(ds.items) == 7 and ds.card.few_shot == 5

    archive = tmp_path / "ceval-exam.zip"
    archive.write_bytes(zip_of(tree("ceval")))
    assert (
        main(["ceval", str(archive), str(tmp_path / "ce"), "--name", "c", "--language", "zh"]) == 0
    )

    broken = tmp_path / "mmlu-broken"
    for rel, data in tree("mmlu").items():
        (broken / rel).parent.mkdir(parents=True, exist_ok=True)
        (broken / rel).write_bytes(data)
    (broken / "data/test/anatomy_test.csv").write_bytes(b"q,a,b,c,d,A\nq2,a,b,c,d,Z\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flageval_datasets.importers",
            "mmlu",
            str(broken),
            str(tmp_path / "o2"),
            "--name",
            "mm",
            "--language",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "data/test/anatomy_test.csv line 2: answer 'Z' is not one of A, B, C, D" in proc.stderr
    assert not (tmp_path / "o2").exists()


def test_legacy_single_file_convert_keeps_its_ids_and_messages():
    raw = b"q1,a,b,c,d,A\nq2,a,b,c,d,X\n"
    with pytest.raises(DatasetError, match="line 2: answer 'X'") as ei:
        convert("mmlu-csv", raw, name="m", language="en")
    assert ei.value.errors[0].file is None
    _, _, ds = convert(
        "mmlu-csv", raw[:13], name="m", language="en", few_shot=1, dev=b"d,a,b,c,d,B\n"
    )
    assert [i.id for i in ds.dev] == ["dev-1"] and [i.id for i in ds.items] == ["1"]
