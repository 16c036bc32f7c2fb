"""The two parts of every email: plain text and HTML (sent as ``multipart/alternative``).

Everything that comes from an event (names, reasons, errors, log lines) is HTML-escaped here;
callers build HTML fragments only with these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

FOOTER_TEXT = "FlagEval. This message was sent automatically; please do not reply."

_STYLE_TABLE = "border-collapse:collapse;font-size:14px"
_STYLE_CELL = "border:1px solid #d0d7de;padding:4px 8px;text-align:left"
_STYLE_PRE = (
    "background:#f6f8fa;border:1px solid #d0d7de;padding:8px;font-size:12px;"
    "white-space:pre-wrap;word-break:break-all"
)


def text_with_footer(text: str) -> str:
    return f"{text.rstrip()}\n\n-- \n{FOOTER_TEXT}\n"


def paragraphs(text: str) -> str:
    """Plain text as HTML: blank lines separate paragraphs, other line breaks are kept."""
    blocks = [b.strip("\n") for b in text.strip().split("\n\n") if b.strip()]
    return "\n".join(f"<p>{escape(b).replace(chr(10), '<br>')}</p>" for b in blocks)


def document(title: str, fragment: str) -> str:
    """A whole HTML email around ``fragment`` (already safe HTML) with the common footer."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1f2328">\n'
        f"{fragment}\n"
        f'<hr><p style="color:#656d76;font-size:12px">{escape(FOOTER_TEXT)}</p>\n'
        "</body></html>\n"
    )


def link(url: str, label: str | None = None) -> str:
    return f'<a href="{escape(url, quote=True)}">{escape(label or url)}</a>'


def pre(text: str) -> str:
    return f'<pre style="{_STYLE_PRE}">{escape(text)}</pre>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th style="{_STYLE_CELL}">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_STYLE_CELL}">{escape(c)}</td>' for c in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{_STYLE_TABLE}"><tr>{head}</tr>{body}</table>'


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned with spaces (numbers right-aligned), for the text part."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [
        all(_looks_numeric(row[i]) for row in rows if row[i]) and any(row[i] for row in rows)
        for i in range(len(header))
    ]

    def line(cells: Sequence[str], align: bool) -> str:
        out = [
            c.rjust(widths[i]) if align and numeric[i] else c.ljust(widths[i])
            for i, c in enumerate(cells)
        ]
        return "  ".join(out).rstrip()

    lines = [line(header, False), "  ".join("-" * w for w in widths)]
    lines.extend(line(row, True) for row in rows)
    return "\n".join(lines)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("-", "")
    return True


def format_value(value: Any) -> str:
    """A metric as a short string: floats to at most 4 decimals, the rest as given."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    return str(value)
