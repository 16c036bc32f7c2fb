# ruff: noqa: RUF001
"""Scoring, robustness perturbations, validation sampling and evaluate_dataset."""

from __future__ import annotations

import asyncio
import collections
import random
import re
import string
from decimal import Decimal

import pytest

from flageval_datasets import load_dataset, load_demo_dataset
from flageval_runner.metrics import robustness as rb
from flageval_runner.metrics.scoring import (
    exact_match,
    extract_choice,
    extract_number,
    f1_score,
    math_accuracy,
    normalize_answer,
    quasi_exact_match,
    task_average,
)
from flageval_runner.tasks import (
    EvaluationError,
    evaluate_dataset,
    run_validation,
    sample_validation,
    task_scores,
    validation_rows,
)

# ---------------------------------------------------------------- SQuAD v2.0 reference
# Re-implemented from the official evaluate-v2.0.py (normalize_answer, get_tokens, compute_f1).


def ref_normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def ref_get_tokens(s):
    if not s:
        return []
    return ref_normalize_answer(s).split()


def ref_compute_exact(a_gold, a_pred):
    return int(ref_normalize_answer(a_gold) == ref_normalize_answer(a_pred))


def ref_compute_f1(a_gold, a_pred):
    gold_toks = ref_get_tokens(a_gold)
    pred_toks = ref_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


WORDS = [
    "a",
    "an",
    "the",
    "The",
    "cat",
    "Cat",
    "dog",
    "sat",
    "on",
    "mat",
    "the,",
    "A.",
    "x",
    "yes",
    "no",
    "1",
    "2.5",
    "don't",
    "Theory",
    "anthem",
]


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 8)):
        if rng.random() < 0.8:
            parts.append(rng.choice(WORDS))
        else:
            parts.append(
                "".join(
                    rng.choice(string.ascii_letters + string.punctuation)
                    for _ in range(rng.randint(1, 4))
                )
            )
    seps = [" ", "  ", "\t", "\n", " - "]
    return "".join(p + rng.choice(seps) for p in parts)


def test_normalisation_and_f1_agree_with_squad_reference_on_random_strings():
    rng = random.Random(20240601)
    for _ in range(3000):
        gold, pred = random_text(rng), random_text(rng)
        assert normalize_answer(gold) == ref_normalize_answer(gold)
        assert f1_score([gold], pred) == pytest.approx(ref_compute_f1(gold, pred))
        assert quasi_exact_match([gold], pred) == ref_compute_exact(gold, pred)
        # max over several references == max of the reference's per-reference scores
        golds = [gold, random_text(rng)]
        assert f1_score(golds, pred) == pytest.approx(max(ref_compute_f1(g, pred) for g in golds))


def test_hand_computed_scores():
    assert normalize_answer("  The  Cat, sat!  ") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("Theory") == "theory"  # 'the' only as a whole word
    assert exact_match(["Paris"], " Paris ") == 1.0
    assert exact_match(["Paris"], "paris") == 0.0
    assert quasi_exact_match(["Paris"], "paris.") == 1.0
    assert quasi_exact_match(["the Amazon", "Amazon River"], "Amazon") == 1.0
    # gold "cat sat mat" / pred "cat sat down": 2 common, P=2/3, R=2/3 -> F1=2/3
    assert f1_score(["the cat sat on mat"], "a cat sat on down") == pytest.approx(0.75)
    assert f1_score(["cat sat mat"], "cat sat down") == pytest.approx(2 / 3)
    assert f1_score(["x"], "y") == 0.0
    assert f1_score(["the"], "a") == 1.0  # both empty after normalisation
    assert f1_score([], "x") == 0.0


def test_chinese_scores():
    assert quasi_exact_match(["北京"], "北京。") == 1.0
    assert exact_match(["北京"], "北京。") == 0.0
    # character F1: gold 北京大学 (4 chars), pred 北京 (2): P=1, R=1/2 -> 2/3
    assert f1_score(["北京大学"], "北京") == pytest.approx(2 / 3)
    # mixed: gold "长江 river" tokens 长,江,river ; pred "长江" -> P=1, R=2/3 -> 0.8
    assert f1_score(["长江 river"], "长江") == pytest.approx(0.8)
    assert f1_score(["李白"], "杜甫") == 0.0


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        (" b ", "B"),
        ("Answer: B", "B"),
        ("answer: C", "C"),
        ("The answer is (D).", "D"),
        ("The correct option is C because ...", "C"),
        ("答案是B", "B"),
        ("答案：C。", "C"),
        ("正确答案为 A", "A"),
        ("我认为应该选D，因为……", "D"),
        ("（Ｂ）", "B"),
        ("B) 4", "B"),
        ("C、北京", "C"),
        ("I think C is right", "C"),
        ("4", "B"),  # equals the text of option B
        ("Because it is four.", None),
        ("", None),
        ("E", None),  # not an option
        ("Let me see. It must be D.", "D"),
    ],
)
def test_letter_extraction(generation, expected):
    assert extract_choice(generation, 4, ["3", "4", "5", "6"]) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("#### 72", Decimal(72)),
        ("She earns 1,234 dollars in total.", Decimal(1234)),
        ("3 + 4 = 7. So the answer is 7", Decimal(7)),
        ("First 10, then 20 and finally 30.", Decimal(30)),
        ("step 5 ... #### 1,000\nextra 3", Decimal(1000)),
        ("It is -7 degrees", Decimal(-7)),
        ("2.50", Decimal("2.5")),
        ("no number here", None),
        ("答案是 18 岁。", Decimal(18)),
    ],
)
def test_number_extraction(text, value):
    assert extract_number(text) == value


def test_math_accuracy():
    assert math_accuracy("1000", "The total is $1,000.") == 1.0
    assert math_accuracy("#### 15", "2.5 * 6 = 15.0") == 1.0
    assert math_accuracy("15", "15 km, then 16") == 0.0
    assert math_accuracy("15", "I don't know") == 0.0
    assert task_average([1.0, 0.5, None]) == 0.75
    assert task_average([]) is None


# ---------------------------------------------------------------- robustness


TEXT = "I don't think the answer is there, because they're wrong. Which city would you believe?"


def test_perturbations_deterministic_and_distinct():
    for kind in rb.KINDS:
        assert rb.perturb(TEXT, kind, seed=3) == rb.perturb(TEXT, kind, seed=3)
    assert rb.perturb(TEXT, "lowercase") == TEXT.lower()
    assert rb.perturb(TEXT, "contractions") == (
        "I do not think the answer is there, because they are wrong. Which city would you believe?"
    )
    assert (
        rb.perturb("You do not know what I am doing.", "contractions")
        == "You don't know what I'm doing."
    )
    assert rb.perturb("Do not go", "contractions") == "Don't go"
    spaced = rb.perturb(TEXT, "extra_spaces", seed=1)
    assert spaced.split() == TEXT.split() and spaced != TEXT
    assert all(1 <= len(s) <= rb.MAX_SPACES for s in re.findall(r" +", spaced))
    missp = {rb.perturb(TEXT, "misspellings", seed=s) for s in range(20)}
    assert len(missp) > 1  # the seed matters
    for m in missp:
        assert len(m.split()) == len(TEXT.split())
        for a, b in zip(m.split(), TEXT.split(), strict=True):
            core = b.strip(".,?").lower()
            if a != b:
                assert a.strip(".,?").lower() in rb.MISSPELLINGS[core]
    with pytest.raises(ValueError):
        rb.perturb(TEXT, "synonyms")
    assert rb.worst_case(1.0, [1.0, 0.0, 1.0]) == 0.0
    assert rb.worst_case(0.5, []) == 0.5


def test_chinese_input_mostly_unperturbed():
    zh = "中国的首都是哪座城市？"
    assert {rb.perturb(zh, k, 0) for k in rb.KINDS} == {zh}


# ---------------------------------------------------------------- evaluate_dataset


def fake_model(answer_of):
    calls: list[str] = []

    async def predict(prompt, item):
        calls.append(prompt)
        await asyncio.sleep(0)
        return answer_of(prompt, item)

    predict.calls = calls  # type: ignore[attr-defined]
    return predict


async def test_perfect_and_constant_predictors_on_demo_choice():
    ds = load_demo_dataset("demo-en-choice")
    perfect = await evaluate_dataset(
        ds, fake_model(lambda p, it: f"Answer: {it.label}"), concurrency=4
    )
    assert perfect.score == 1.0 and perfect.metrics == {"accuracy": 1.0}
    assert perfect.content_sha256 == ds.content_sha256 and perfect.n_items == 20
    always_a = await evaluate_dataset(ds, fake_model(lambda p, it: "A"), concurrency=3)
    expected = sum(it.label == "A" for it in ds.items) / len(ds.items)
    assert always_a.score == expected == 0.25
    rec = always_a.per_item[0]
    assert set(rec) >= {"id", "prompt", "prediction", "gold", "score"}
    assert (
        rec["id"] == ds.items[0].id
        and rec["prediction"] == "A"
        and rec["gold"] == ds.items[0].label
    )
    lines = always_a.predictions_jsonl().decode().splitlines()
    assert len(lines) == 20


async def test_chinese_choice_and_math_and_genqa_and_openqa():
    zh = load_demo_dataset("demo-zh-choice")
    r = await evaluate_dataset(zh, fake_model(lambda p, it: f"答案是{it.label}。"))
    assert r.score == 1.0
    math = load_demo_dataset("demo-en-math")
    r = await evaluate_dataset(
        math, fake_model(lambda p, it: f"Let me compute. The answer is {it.label}.")
    )
    assert r.score == 1.0 and r.metrics["accuracy"] == 1.0
    r = await evaluate_dataset(math, fake_model(lambda p, it: "#### 13"))
    assert r.score == pytest.approx(sum(it.label == "13" for it in math.items) / 15)
    gen = load_demo_dataset("demo-en-genqa")
    r = await evaluate_dataset(gen, fake_model(lambda p, it: it.gold_references[-1].upper() + "."))
    assert r.metrics["quasi_exact_match"] == 1.0 and r.metrics["f1"] == 1.0
    assert r.metrics["exact_match"] == 0.0
    op = load_demo_dataset("demo-zh-openqa")
    r = await evaluate_dataset(op, fake_model(lambda p, it: "我的看法是……"), robustness=True)
    assert r.human_evaluation and r.score is None and r.metrics == {} and r.robustness is None
    assert all(rec["score"] is None and rec["prediction"] for rec in r.per_item)
    scores = task_scores(
        [
            await evaluate_dataset(
                load_demo_dataset("demo-en-choice"), fake_model(lambda p, it: "A")
            ),
            await evaluate_dataset(zh, fake_model(lambda p, it: it.label)),
        ]
    )
    assert scores == {"choice_qa": pytest.approx((0.25 + 1.0) / 2)}


async def test_robustness_is_worst_case_and_references_unperturbed():
    data = (
        b'{"id":"1","input":"Which city is the capital of France?","choices":["Paris","Rome"],"label":"A"}\n'
        b'{"id":"2","input":"2+2?","choices":["4","5"],"label":"A"}\n'
    )
    card = b'{"name":"r","task":"choice_qa","language":"en","metric":"accuracy","version":"1"}'
    ds = load_dataset(card, data)

    # right on the original input, wrong on the lowercased one
    def answer(prompt, item):
        return "B" if "which city" in prompt else "A"

    model = fake_model(answer)
    r = await evaluate_dataset(ds, model, robustness=True, seed=7)
    first, second = r.per_item
    assert first["score"] == 1.0 and first["robust_score"] == 0.0
    assert first["perturbed"]["lowercase"]["score"] == 0.0
    assert first["perturbed"]["lowercase"]["input"] == "which city is the capital of france?"
    france = [p for p in model.calls if "france" in p.lower()]  # type: ignore[attr-defined]
    assert len(france) == 1 + len(first["perturbed"]) > 2
    for prompt in france:  # choices (references) never perturbed
        assert prompt.endswith("\nA. Paris\nB. Rome\nAnswer:")
    assert first["gold"] == "A"
    # "2+2?" has nothing to perturb -> no extra calls, robust == original
    assert second["perturbed"] == {} and second["robust_score"] == 1.0
    assert r.score == 1.0 and r.robustness == 0.5 and r.metrics["robustness"] == 0.5
    # deterministic given the seed
    r2 = await evaluate_dataset(ds, fake_model(answer), robustness=True, seed=7)
    assert r2.per_item == r.per_item


async def test_perturbed_prompts_keep_choices():
    ds = load_demo_dataset("demo-en-choice")
    model = fake_model(lambda p, it: it.label)
    r = await evaluate_dataset(ds, model, robustness=True, seed=1)
    assert r.robustness == 1.0
    blocks = [
        "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(it.choices or [])) for it in ds.items
    ]
    for prompt in model.calls:  # type: ignore[attr-defined]
        assert any(prompt.endswith(f"\n{b}\nAnswer:") for b in blocks)
    assert len(model.calls) > 20  # perturbed inputs were asked too  # type: ignore[attr-defined]


async def test_bounded_concurrency_and_errors_name_item():
    ds = load_demo_dataset("demo-en-choice")
    active = peak = 0

    async def predict(prompt, item):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1
        return "A"

    await evaluate_dataset(ds, predict, concurrency=3)
    assert peak == 3

    async def failing(prompt, item):
        if item.id == "en-mc-5":
            raise TimeoutError("model timed out")
        return "A"

    with pytest.raises(
        EvaluationError, match=r"dataset 'demo-en-choice', item 'en-mc-5': TimeoutError"
    ):
        await evaluate_dataset(ds, failing)


# ---------------------------------------------------------------- validation sampling


async def test_validation_sampling_seeded():
    ds = load_demo_dataset("demo-en-choice")
    a = sample_validation(ds, k=3, seed=42)
    b = sample_validation(ds, k=3, seed=42)
    assert a.seed == 42 and [i.id for i in a.items] == [i.id for i in b.items] and len(a.items) == 3
    others = {tuple(i.id for i in sample_validation(ds, 3, s).items) for s in range(10)}
    assert len(others) > 1
    drawn = sample_validation(ds, k=1)
    assert isinstance(drawn.seed, int) and len(drawn.items) == 1
    assert [i.id for i in sample_validation(ds, 1, drawn.seed).items] == [drawn.items[0].id]
    for bad in (0, 4):
        with pytest.raises(ValueError):
            sample_validation(ds, k=bad, seed=1)
    rows = validation_rows(a, {a.items[0].id: "B"})
    assert list(rows[0]) == ["ID", "Dataset", "Sample", "Label", "Predict"]
    assert rows[0]["Dataset"] == "demo-en-choice" and rows[0]["Predict"] == "B"
    assert rows[0]["Label"] == a.items[0].label and "A. " in rows[0]["Sample"]
    assert rows[1]["Predict"] == ""
    sample, rows = await run_validation(ds, fake_model(lambda p, it: "C"), k=2, seed=5)
    assert sample.seed == 5
    assert [r["ID"] for r in rows] == [i.id for i in sample_validation(ds, 2, 5).items]
    assert {r["Predict"] for r in rows} == {"C"}
    gen = load_demo_dataset("demo-en-genqa")
    rows = validation_rows(sample_validation(gen, 1, 0), {})
    assert rows[0]["Label"] and "\nA. " not in rows[0]["Sample"]
