"""Dockerfile review findings: the corpus under ``dockerfiles/`` and robustness on any input.

Each ``name.Dockerfile`` has a ``name.expected.json`` listing ``[rule, line, severity]`` in the
order :func:`review_dockerfile` returns them (sorted by line, then rule).
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from flageval_image_registry.dockerfile import Finding, parse, review_dockerfile

CORPUS = Path(__file__).parent / "dockerfiles"
CASES = sorted(p.name.removesuffix(".Dockerfile") for p in CORPUS.glob("*.Dockerfile"))
SEVERITIES = {"blocking", "warning", "hint"}


def _read(name: str) -> str:
    # bytes, so that CRLF line endings reach the parser unchanged
    return (CORPUS / f"{name}.Dockerfile").read_bytes().decode("utf-8")


def _triples(findings: list[Finding]) -> list[list[object]]:
    return [[f.rule, f.line, f.severity] for f in findings]


def test_corpus_is_complete() -> None:
    assert len(CASES) >= 12
    for name in CASES:
        assert (CORPUS / f"{name}.expected.json").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_corpus(name: str) -> None:
    expected = json.loads((CORPUS / f"{name}.expected.json").read_text(encoding="utf-8"))
    findings = review_dockerfile(_read(name))
    assert _triples(findings) == expected
    for finding in findings:
        assert finding.severity in SEVERITIES
        assert finding.message and finding.hint


def test_clean_file_has_no_blocking_or_warning() -> None:
    findings = review_dockerfile(_read("clean"))
    assert [f.rule for f in findings] == ["image-size-limit"]


def test_every_rule_is_exercised_by_the_corpus() -> None:
    rules = {f.rule for name in CASES for f in review_dockerfile(_read(name))}
    assert rules >= {
        "empty",
        "parse-error",
        "first-instruction-from",
        "base-image-candidate",
        "run-downloads",
        "add-remote-url",
        "copy-needs-comment",
        "env-reserved",
        "openssh-server",
        "merge-run-layers",
        "clean-caches",
        "image-size-limit",
    }


def test_crlf_file_really_has_crlf() -> None:
    assert b"\r\n" in (CORPUS / "crlf.Dockerfile").read_bytes()
    text = _read("crlf")
    assert _triples(review_dockerfile(text)) == _triples(
        review_dockerfile(text.replace("\r\n", "\n"))
    )


def test_parser_keeps_lines_and_comments() -> None:
    df = parse(_read("continuations"))
    assert [(i.keyword, i.line, i.end_line) for i in df.instructions] == [
        ("FROM", 1, 1),
        ("RUN", 2, 9),
        ("ENV", 10, 11),
        ("RUN", 12, 12),
    ]
    run = df.instructions[1]
    assert [c.line for c in run.inner_comments] == [3]
    assert "openssh-server" in run.rest and "#" not in run.rest

    df = parse(_read("copy-comments"))
    copy = next(i for i in df.instructions if i.line == 5)
    assert [c.text for c in copy.comments_above] == ["Our model code."]


def test_escape_directive_and_heredoc_parsing() -> None:
    df = parse(_read("escape-backtick"))
    assert df.escape == "`"
    assert [(i.keyword, i.line) for i in df.instructions] == [
        ("FROM", 3),
        ("RUN", 4),
        ("COPY", 8),
        ("RUN", 9),
    ]
    copy = df.instructions[2]
    assert copy.rest == "C:\\data\\ C:\\workspace\\"

    df = parse(_read("heredoc"))
    assert df.directives == {"syntax": "docker/dockerfile:1.4"}
    assert [(i.keyword, i.line) for i in df.instructions] == [
        ("FROM", 2),
        ("RUN", 3),
        ("COPY", 8),
        ("RUN", 12),
        ("RUN", 15),
        ("ENV", 19),
    ]
    assert df.instructions[2].heredocs[0].body.startswith("# not a Dockerfile comment")


def test_json_form_and_flags() -> None:
    df = parse(
        'FROM --platform=linux/amd64 nvcr.io/nvidia/pytorch:23.03-py3\nCMD ["python", "-m", "x"]\n'
    )
    assert df.instructions[0].flag("platform") == "linux/amd64"
    assert df.instructions[0].rest == "nvcr.io/nvidia/pytorch:23.03-py3"
    assert df.instructions[1].json_args == ("python", "-m", "x")
    assert parse("CMD [not json]").instructions[0].json_args is None


@pytest.mark.parametrize(
    "run",
    [
        "RUN apt-get update && curl -O http://x",
        "RUN true || wget http://x",
        "RUN true; /usr/local/bin/wget http://x",
        "RUN FOO=1 curl http://x",
        "RUN env -i PATH=/bin curl http://x",
        "RUN for u in a b; do curl $u; done",
        "RUN (cd /tmp && curl http://x)",
        "RUN echo `curl http://x`",
        'RUN ["bash", "-c", "curl http://x"]',
        "RUN --mount=type=cache,target=/root/.cache curl http://x",
    ],
)
def test_download_positions(run: str) -> None:
    text = f"FROM nvcr.io/nvidia/pytorch:23.03-py3\n{run}\n"
    assert ["run-downloads", 2, "blocking"] in _triples(review_dockerfile(text))


@pytest.mark.parametrize(
    "run",
    [
        "RUN apt-get install -y curl wget",
        "RUN echo curl",
        "RUN pip install --no-cache-dir curlylint",
        "RUN ls /usr/bin/curl",
    ],
)
def test_not_a_download(run: str) -> None:
    text = f"FROM nvcr.io/nvidia/pytorch:23.03-py3\n{run}\n"
    assert "run-downloads" not in {f.rule for f in review_dockerfile(text)}


def test_extra_candidates() -> None:
    text = "FROM registry.example.com/team/base:1\nRUN apt-get install -y openssh-server\n"
    assert "base-image-candidate" in {f.rule for f in review_dockerfile(text)}
    findings = review_dockerfile(text, candidates=["registry.example.com/team/"])
    assert "base-image-candidate" not in {f.rule for f in findings}


def test_sorted_by_line_then_rule() -> None:
    for name in CASES:
        findings = review_dockerfile(_read(name))
        assert findings == sorted(findings, key=lambda f: (f.line, f.rule))


def _fragments() -> list[str]:
    pieces: list[str] = []
    for name in CASES:
        pieces.extend(_read(name).splitlines(keepends=True))
    return [*pieces, "\\\n", "`\n", "<<EOF\n", "EOF\n", "# escape=`\n", '["a", \n', "\r", "\x00"]


@pytest.mark.parametrize("seed", range(40))
def test_random_input_never_raises(seed: int) -> None:
    rng = random.Random(seed)
    fragments = _fragments()
    inputs = [
        "".join(rng.choice(fragments) for _ in range(rng.randint(0, 30))),
        "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 400))),
        bytes(rng.randrange(256) for _ in range(rng.randint(0, 400))).decode("latin-1"),
        "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(0, 200))),
    ]
    for text in inputs:
        findings = review_dockerfile(text)
        assert isinstance(findings, list)
        for finding in findings:
            assert isinstance(finding, Finding)
            assert finding.severity in SEVERITIES
            assert finding.line >= 0
        assert findings == sorted(findings, key=lambda f: (f.line, f.rule))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n\n",
        "\ufeff",
        "#",
        "\\",
        "FROM",
        "FROM \\",
        "RUN <<",
        "ENV",
        "ONBUILD",
        "FROM a\nONBUILD RUN curl x",
        "FROM ${",
        "FROM $A AS",
        "a" * 100_000,
        "FROM x\n" * 5000,
    ],
)
def test_edge_inputs_never_raise(text: str) -> None:
    assert isinstance(review_dockerfile(text), list)


def test_non_str_input_never_raises() -> None:
    assert review_dockerfile(b"FROM nvcr.io/nvidia/pytorch:23.03-py3\n")  # type: ignore[arg-type]
    assert review_dockerfile(None)[0].rule == "empty"  # type: ignore[arg-type]
