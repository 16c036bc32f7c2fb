# ruff: noqa: RUF001
"""Dataset card + JSONL validation, importers, demo datasets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flageval_datasets import (
    DatasetError,
    demo_dataset_names,
    load_dataset,
    load_demo_dataset,
)
from flageval_datasets.importers import convert, main

CARD = {
    "name": "t-choice",
    "domain": "nlp",
    "task": "choice_qa",
    "language": "en",
    "metric": "accuracy",
    "few_shot": 0,
    "version": "1",
}


def card(**kw) -> bytes:
    return json.dumps({**CARD, **kw}).encode()


def jsonl(*items) -> bytes:
    return b"".join(
        (i if isinstance(i, bytes) else json.dumps(i, ensure_ascii=False).encode()) + b"\n"
        for i in items
    )


GOOD = {"id": "1", "input": "2+2?", "choices": ["3", "4"], "label": "B"}


def test_good_dataset_loads_and_hash_is_canonical():
    ds = load_dataset(card(), jsonl(GOOD, {**GOOD, "id": "2", "label": "A"}))
    assert [i.id for i in ds.items] == ["1", "2"]
    assert len(ds.content_sha256) == 64
    # same content, different key order / whitespace -> same hash
    pretty_card = json.dumps(dict(reversed(list(CARD.items()))), indent=2).encode()
    pretty_data = b'{"label": "B", "choices": ["3","4"], "input": "2+2?", "id": "1"}\n' + jsonl(
        {**GOOD, "id": "2", "label": "A"}
    )
    assert load_dataset(pretty_card, pretty_data).content_sha256 == ds.content_sha256
    # any content change changes it
    assert load_dataset(card(version="2"), jsonl(GOOD)).content_sha256 != ds.content_sha256
    # canonical bytes round-trip
    again = load_dataset(ds.card_bytes(), ds.data_bytes())
    assert again.content_sha256 == ds.content_sha256


def test_bad_lines_reported_with_line_numbers():
    data = jsonl(
        GOOD,  # 1 ok
        b"{not json",  # 2
        {"input": "no id", "choices": ["a", "b"], "label": "A"},  # 3 missing id
        {"id": "4", "choices": ["a", "b"], "label": "A"},  # 4 missing input
        {**GOOD},  # 5 duplicate id "1"
        {"id": "6", "input": "q", "choices": ["a", "b"], "label": "C"},  # 6 label not a letter
        {"id": "7", "input": "q", "label": "A"},  # 7 no choices for choice_qa
        {"id": "8", "input": "q", "choices": ["a", "b"], "label": "A", "bogus": 1},  # 8 extra
        b"[1, 2]",  # 9 not an object
        b"",  # 10 blank
        {"id": "11", "input": "   ", "choices": ["a", "b"], "label": "A"},  # 11 blank input
    )
    with pytest.raises(DatasetError) as ei:
        load_dataset(card(), data)
    err = ei.value
    assert sorted(set(err.lines)) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    msg = str(err)
    assert "line 2: not valid JSON" in msg
    assert "line 3: id: Field required" in msg
    assert "line 4: input: Field required" in msg
    assert "line 5: duplicate id '1' (first on line 1)" in msg
    assert "line 6: label 'C' is not among the choices' letters A, B" in msg
    assert "line 7: choices missing" in msg
    assert "line 8: bogus" in msg


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"task": "translation"}, "task"),
        ({"language": "fr"}, "language"),
        ({"metric": "bleu"}, "metric"),
        ({"few_shot": -1}, "few_shot"),
        ({"extra": 1}, "extra"),
        ({"metric": "f1"}, "does not fit task"),
        ({"name": "bad name!"}, "name"),
        ({"name": "t-choice\n"}, "name"),  # `$` alone would match before the newline
        ({"prompt_template": "no placeholder"}, "{input}"),
        ({"prompt_template": "{input} {oops}"}, "oops"),
    ],
)
def test_bad_cards(override, fragment):
    with pytest.raises(DatasetError) as ei:
        load_dataset(card(**override), jsonl(GOOD))
    assert fragment in str(ei.value)
    assert all(e.line is None for e in ei.value.errors)


def test_card_missing_field_and_not_json():
    c = dict(CARD)
    del c["version"]
    with pytest.raises(DatasetError, match="version"):
        load_dataset(json.dumps(c).encode(), jsonl(GOOD))
    with pytest.raises(DatasetError, match="card: not valid JSON"):
        load_dataset(b"{", jsonl(GOOD))


def test_card_and_line_errors_reported_together():
    with pytest.raises(DatasetError) as ei:
        load_dataset(card(language="xx"), jsonl(GOOD, b"oops"))
    assert ei.value.lines == [2]
    assert any(e.line is None for e in ei.value.errors)


def test_task_specific_rules():
    gen = card(task="generative_qa", metric="f1")
    with pytest.raises(DatasetError, match="line 1: label or references required"):
        load_dataset(gen, jsonl({"id": "a", "input": "q"}))
    with pytest.raises(DatasetError, match="line 1: choices not allowed"):
        load_dataset(gen, jsonl({**GOOD}))
    m = card(task="math", metric="exact_match")
    with pytest.raises(DatasetError, match="line 2: label 'many' has no number"):
        load_dataset(
            m,
            jsonl(
                {"id": "a", "input": "q", "label": 3}, {"id": "b", "input": "q", "label": "many"}
            ),
        )
    ds = load_dataset(
        card(task="open_qa", metric="none", language="zh"), jsonl({"id": "a", "input": "谈谈"})
    )
    assert ds.items[0].label is None
    with pytest.raises(DatasetError, match="few_shot is 2 but the data has only 1 dev"):
        load_dataset(card(few_shot=2), jsonl({**GOOD, "id": "d", "split": "dev"}, GOOD))
    with pytest.raises(DatasetError, match="data file is empty"):
        load_dataset(card(), b"")


def test_demo_datasets_load():
    names = demo_dataset_names()
    assert names == [
        "demo-en-choice",
        "demo-en-genqa",
        "demo-en-math",
        "demo-zh-choice",
        "demo-zh-openqa",
    ]
    sizes = {n: len(load_demo_dataset(n).items) for n in names}
    assert sizes == {
        "demo-en-choice": 20,
        "demo-en-genqa": 15,
        "demo-en-math": 15,
        "demo-zh-choice": 20,
        "demo-zh-openqa": 10,
    }
    math = load_demo_dataset("demo-en-math")
    assert len(math.dev) == math.card.few_shot == 2
    assert all("####" in (d.meta or {}).get("solution", "") for d in math.dev)


# ---------------------------------------------------------------- importers


def test_mmlu_csv_importer():
    raw = b'What is 2+2?,3,4,5,6,B\n"Which, with comma?",a,b,c,d,d\n'
    card_b, data_b, ds = convert("mmlu-csv", raw, name="mmlu-demo", language="en")
    assert json.loads(card_b)["task"] == "choice_qa"
    assert [(i.id, i.label, i.choices) for i in ds.items] == [
        ("1", "B", ["3", "4", "5", "6"]),
        ("2", "D", ["a", "b", "c", "d"]),
    ]
    assert ds.items[1].input == "Which, with comma?"
    assert load_dataset(card_b, data_b).content_sha256 == ds.content_sha256


def test_mmlu_csv_errors_have_line_numbers():
    raw = b'ok?,a,b,c,d,A\n"multi\nline?",a,b,c,d,E\nshort,a,b\n,a,b,c,d,A\n'
    with pytest.raises(DatasetError) as ei:
        convert("mmlu-csv", raw, name="m", language="en")
    msg = str(ei.value)
    assert "line 2: answer 'E' is not one of A, B, C, D" in msg
    assert "line 4: expected 6 columns" in msg
    assert "line 5: question is empty" in msg


def test_gsm8k_importer():
    raw = jsonl(
        {"question": "Ann has 2 apples and buys 3. How many?", "answer": "2+3=5\n#### 5"},
        {"question": "Big?", "answer": "lots\n#### 1,250"},
    )
    _, _, ds = convert("gsm8k-jsonl", raw, name="gsm", language="en")
    assert ds.card.task.value == "math"
    assert [i.label for i in ds.items] == ["5", "1250"]
    assert ds.items[0].meta == {"solution": "2+3=5\n#### 5"}
    bad = jsonl(
        {"question": "q", "answer": "5"},
        b"nope",
        {"question": "q", "answer": "#### many"},
        {"answer": "#### 3"},
    )
    with pytest.raises(DatasetError) as ei:
        convert("gsm8k-jsonl", bad, name="gsm", language="en")
    assert "line 2: not valid JSON" in str(ei.value)
    with pytest.raises(DatasetError) as ei:
        convert("gsm8k-jsonl", bad.replace(b"nope\n", b""), name="gsm", language="en")
    assert sorted(ei.value.lines) == [1, 2, 3]


def test_gsm8k_importer_with_dev_few_shot():
    test = jsonl({"question": "q1 3?", "answer": "#### 3"})
    dev = jsonl({"question": "d1?", "answer": "so 4\n#### 4"})
    _, _, ds = convert("gsm8k-jsonl", test, name="gsm", language="en", few_shot=1, dev=dev)
    assert [i.id for i in ds.dev] == ["dev-1"] and [i.id for i in ds.items] == ["1"]
    assert ds.dev[0].meta == {"solution": "so 4\n#### 4"}


def test_ceval_csv_importer():
    raw = (
        "id,question,A,B,C,D,answer,explanation\n"
        "0,中国的首都是？,上海,北京,广州,深圳,B,北京是首都\n"
        "1,1+1=？,1,2,3,4,B,\n"
    ).encode()
    _, _, ds = convert("ceval-csv", raw, name="ceval-demo", language="zh")
    assert [i.id for i in ds.items] == ["0", "1"]
    assert ds.items[0].meta == {"explanation": "北京是首都"}
    assert ds.items[1].meta is None
    no_expl = b"id,question,A,B,C,D,answer\n7,q,a,b,c,d,C\n"
    assert convert("ceval-csv", no_expl, name="c", language="zh")[2].items[0].label == "C"
    bad = b"id,question,A,B,C,D,answer\n0,q,a,b,c,d,A\n0,q,a,b,c,d,A\n2,q,a,b,c,d,Z\n"
    with pytest.raises(DatasetError) as ei:
        convert("ceval-csv", bad, name="c", language="zh")
    assert "line 3: duplicate id '0' (first on line 2)" in str(ei.value)
    assert "line 4: answer 'Z'" in str(ei.value)
    with pytest.raises(DatasetError, match="line 1: header lacks column"):
        convert("ceval-csv", b"question,A,B\n", name="c", language="zh")


def test_plain_jsonl_importer_validates_with_line_numbers():
    raw = jsonl({"id": "a", "input": "Capital of France?", "references": ["Paris"]})
    _, _, ds = convert("jsonl", raw, name="p", language="en", task="generative_qa", metric="f1")
    assert ds.items[0].gold_references == ["Paris"]
    with pytest.raises(DatasetError, match="line 2"):
        convert("jsonl", raw + raw, name="p", language="en", task="generative_qa", metric="f1")


def test_importer_cli(tmp_path):
    src = tmp_path / "mmlu.csv"
    src.write_bytes(b"q1,a,b,c,d,A\nq2,a,b,c,d,C\n")
    out = tmp_path / "out"
    assert main(["mmlu-csv", str(src), str(out), "--name", "mm", "--language", "en"]) == 0
    ds = load_dataset((out / "card.json").read_bytes(), (out / "data.jsonl").read_bytes())
    assert [i.label for i in ds.items] == ["A", "C"]
    # as a module, with an error -> exit 2 and line numbers on stderr
    src.write_bytes(b"q1,a,b,c,d,A\nq2,a,b,c,d,X\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flageval_datasets.importers",
            "mmlu-csv",
            str(src),
            str(tmp_path / "o2"),
            "--name",
            "mm",
            "--language",
            "en",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "line 2: answer 'X'" in proc.stderr
    assert not (tmp_path / "o2").exists()
