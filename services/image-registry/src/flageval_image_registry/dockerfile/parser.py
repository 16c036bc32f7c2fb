"""A Dockerfile parser that keeps what a reviewer needs: line numbers and the comments above.

It follows the BuildKit frontend's reading of a Dockerfile closely enough for review:

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) are only recognised at the very
  top of the file; a backtick ``escape`` changes the line-continuation character;
* comment lines (a ``#`` as the first non-blank character) and blank lines are skipped, also
  inside a continued instruction (they are recorded separately there);
* an instruction continues while its line ends with the escape character (trailing blanks allowed);
* heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) on ``RUN``/``COPY``/``ADD`` consume the lines up to
  their terminator;
* keywords are case-insensitive; leading ``--flag=value`` options are split off; JSON (exec) form is
  recognised when the arguments are a JSON array of strings, anything else is shell form;
* CRLF line endings and a leading byte-order mark are accepted.

Nothing here raises on any input: problems become :class:`ParseError` entries.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: Instructions that BuildKit requires to have arguments.
NEEDS_ARGUMENTS = KNOWN_INSTRUCTIONS - {"HEALTHCHECK"}

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_RE = re.compile(r"(?<!<)<<(?!<)(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_FLAG_RE = re.compile(r"--[A-Za-z][A-Za-z0-9-]*(?:=\S*)?")


@dataclass(frozen=True)
class Comment:
    line: int
    text: str  # without the leading ``#`` and surrounding blanks


@dataclass(frozen=True)
class Heredoc:
    name: str
    strip_tabs: bool  # ``<<-``
    quoted: bool  # ``<<"EOF"``: no variable expansion
    body: str
    line: int  # line of the first body line
    terminated: bool


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    raw_keyword: str  # as written
    args: str  # everything after the keyword, continuations joined, flags included
    line: int  # 1-based line where the instruction starts
    end_line: int  # last line, heredoc bodies included
    flags: tuple[str, ...] = ()  # leading ``--name[=value]`` options
    rest: str = ""  # args without the flags
    json_args: tuple[str, ...] | None = None  # exec form, when ``rest`` is a JSON string array
    comments_above: tuple[Comment, ...] = ()  # comment lines directly above (no blank line between)
    inner_comments: tuple[Comment, ...] = ()  # comment lines inside a continuation
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (``""`` for a bare ``--name``), or ``None``."""
        for item in self.flags:
            key, sep, value = item[2:].partition("=")
            if key.lower() == name.lower():
                return value if sep else ""
        return None


@dataclass(frozen=True)
class ParseError:
    line: int
    message: str


@dataclass
class Dockerfile:
    directives: dict[str, str] = field(default_factory=dict)
    escape: str = "\\"
    instructions: list[Instruction] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def split_lines(text: str) -> list[str]:
    """Physical lines, ``\\r\\n`` and ``\\n`` endings both accepted (a lone ``\\r`` is not a break)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _comment(line_no: int, line: str) -> Comment:
    return Comment(line_no, line.lstrip()[1:].strip())


def _continues(line: str, escape: str) -> bool:
    return line.rstrip(" \t").endswith(escape)


def _strip_continuation(line: str, escape: str) -> str:
    return line.rstrip(" \t")[:-1]


def _split_flags(args: str) -> tuple[tuple[str, ...], str]:
    flags: list[str] = []
    rest = args.lstrip()
    while rest.startswith("--"):
        match = _FLAG_RE.match(rest)
        if not match or (match.end() < len(rest) and not rest[match.end()].isspace()):
            break
        flags.append(match.group(0))
        rest = rest[match.end() :].lstrip()
    return tuple(flags), rest


def _json_form(rest: str) -> tuple[str, ...] | None:
    candidate = rest.strip()
    if not candidate.startswith("["):
        return None
    try:
        value = json.loads(candidate)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def parse(text: str) -> Dockerfile:
    """Parse ``text``; never raises."""
    result = Dockerfile()
    try:
        _parse_into(text, result)
    except Exception as exc:  # pragma: no cover - defensive: the parser must never raise
        result.errors.append(ParseError(0, f"the Dockerfile could not be parsed ({exc!r})"))
    return result


def _parse_into(text: str, result: Dockerfile) -> None:
    lines = split_lines(text)
    n = len(lines)
    i = 0
    escape = "\\"

    # Parser directives: only before any comment, blank line or instruction.
    while i < n:
        match = _DIRECTIVE_RE.match(lines[i])
        if not match or match.group(1).lower() not in KNOWN_DIRECTIVES:
            break
        key, value = match.group(1).lower(), match.group(2)
        if key in result.directives:
            result.errors.append(ParseError(i + 1, f"parser directive {key!r} is given twice"))
        elif key == "escape" and value not in ("\\", "`"):
            result.errors.append(
                ParseError(i + 1, f"invalid escape directive {value!r}: must be \\ or `")
            )
        else:
            result.directives[key] = value
            if key == "escape":
                escape = value
        i += 1
    result.escape = escape

    pending: list[Comment] = []
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            pending = []
            i += 1
            continue
        if _is_comment(line):
            comment = _comment(i + 1, line)
            pending.append(comment)
            result.comments.append(comment)
            i += 1
            continue

        start = i
        parts: list[str] = []
        inner: list[Comment] = []
        current = line
        while True:
            if _continues(current, escape):
                parts.append(_strip_continuation(current, escape))
                i += 1
                while i < n and (not lines[i].strip() or _is_comment(lines[i])):
                    if lines[i].strip():
                        comment = _comment(i + 1, lines[i])
                        inner.append(comment)
                        result.comments.append(comment)
                    i += 1
                if i >= n:
                    break
                current = lines[i]
            else:
                parts.append(current)
                i += 1
                break
        logical = "".join(parts)
        comments_above = tuple(pending)
        pending = []

        head = logical.strip().split(None, 1)
        raw_keyword = head[0] if head else ""
        args = head[1].strip() if len(head) > 1 else ""
        keyword = raw_keyword.upper()
        if keyword not in KNOWN_INSTRUCTIONS:
            shown = raw_keyword if len(raw_keyword) <= 40 else raw_keyword[:40] + "…"
            result.errors.append(ParseError(start + 1, f"unknown instruction {shown!r}"))
            continue

        heredocs: list[Heredoc] = []
        if keyword in HEREDOC_INSTRUCTIONS:
            for match in _HEREDOC_RE.finditer(args):
                strip_tabs, quote, name = match.group(1) == "-", match.group(2), match.group(3)
                body_start = i
                body: list[str] = []
                terminated = False
                while i < n:
                    candidate = lines[i].lstrip("\t") if strip_tabs else lines[i]
                    i += 1
                    if candidate == name:
                        terminated = True
                        break
                    body.append(candidate)
                if not terminated:
                    result.errors.append(
                        ParseError(start + 1, f"heredoc {name!r} is not terminated")
                    )
                heredocs.append(
                    Heredoc(
                        name, strip_tabs, bool(quote), "\n".join(body), body_start + 1, terminated
                    )
                )

        if not args and keyword in NEEDS_ARGUMENTS:
            result.errors.append(ParseError(start + 1, f"{keyword} requires at least one argument"))
            continue

        flags, rest = _split_flags(args)
        result.instructions.append(
            Instruction(
                keyword=keyword,
                raw_keyword=raw_keyword,
                args=args,
                line=start + 1,
                end_line=max(start + 1, i),
                flags=flags,
                rest=rest,
                json_args=_json_form(rest),
                comments_above=comments_above,
                inner_comments=tuple(inner),
                heredocs=tuple(heredocs),
            )
        )


# --- helpers for the review rules -------------------------------------------------------------

_VAR_RE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def expand(value: str, variables: dict[str, str]) -> tuple[str, bool]:
    """Expand ``$VAR``/``${VAR}``/``${VAR:-default}``/``${VAR:+alt}``; second item: all resolved."""
    resolved = True

    def replace(match: re.Match[str]) -> str:
        nonlocal resolved
        name = match.group(1) or match.group(4)
        op, word = match.group(2), match.group(3) or ""
        current = variables.get(name)
        if op in (":-", "-"):
            if current is None or (op == ":-" and current == ""):
                return word
            return current
        if op in (":+", "+"):
            if current is None or (op == ":+" and current == ""):
                return ""
            return word
        if current is None:
            resolved = False
            return ""
        return current

    return _VAR_RE.sub(replace, value), resolved


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split Dockerfile arguments into words honouring quotes and the escape character."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    in_word = False
    idx = 0
    while idx < len(text):
        char = text[idx]
        if char == escape and quote != "'" and idx + 1 < len(text):
            current.append(text[idx + 1])
            in_word = True
            idx += 2
            continue
        if quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        idx += 1
    if in_word:
        words.append("".join(current))
    return words


# --- shell reading for RUN ------------------------------------------------------------------
# Just enough shell reading to find the commands a RUN executes: split on newlines, &&, ||, ;, |,
# &, parentheses and command substitutions; drop assignments and wrappers (sudo, env, xargs,
# then/do …); descend into ``sh -c "…"``. A word is a program only in command position, so
# ``apt-get install curl`` installs curl but does not run it.

_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_SUBST_RE = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh"})
_KEYWORDS = frozenset({"then", "do", "else", "elif", "if", "while", "until", "!", "{", "}", "time"})
#: Wrappers whose options are skipped before the command they run.
_WRAPPERS = frozenset(
    {"sudo", "env", "nohup", "exec", "command", "nice", "xargs", "timeout", "stdbuf", "chroot"}
)
_MAX_DEPTH = 8


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return re.findall(r"&&|\|\||[;|&()]|[^\s;|&()]+", line)


def _logical_lines(script: str) -> list[str]:
    joined = re.sub(r"\\\r?\n", " ", script)
    out: list[str] = []
    for line in joined.split("\n"):
        if line.lstrip().startswith("#"):
            continue
        out.append(line)
    return out


def _is_separator(token: str) -> bool:
    return bool(token) and all(c in ";&|()" for c in token)


def _is_redirect(token: str) -> bool:
    return bool(token) and all(c in "<>&" for c in token) and ("<" in token or ">" in token)


def simple_commands(script: str, depth: int = 0) -> list[list[str]]:
    """The simple commands of ``script``; each is ``[program, arg, …]`` with wrappers removed."""
    if depth > _MAX_DEPTH or not script:
        return []
    commands: list[list[str]] = []
    for line in _logical_lines(script):
        for match in _SUBST_RE.finditer(line):  # $(…) and `…`, quoted or not
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            commands.extend(simple_commands(inner or "", depth + 1))
        tokens = _tokens(line)
        current: list[str] = []
        skip_next = False
        for token in tokens:
            if skip_next:
                skip_next = False
                continue
            if _is_separator(token):
                if current:
                    commands.append(current)
                current = []
                continue
            if _is_redirect(token):
                skip_next = True
                continue
            if token.startswith("#") and not current:
                break  # a comment up to the end of the line
            current.append(token)
        if current:
            commands.append(current)
    result: list[list[str]] = []
    for words in commands:
        result.extend(_unwrap(words, depth))
    return result


def program_name(word: str) -> str:
    return word.rsplit("/", 1)[-1].lower()


def _unwrap(words: list[str], depth: int) -> list[list[str]]:
    idx = 0
    while idx < len(words):
        word = words[idx]
        name = program_name(word)
        if _ASSIGNMENT_RE.match(word) or word in _KEYWORDS or word == "$":
            idx += 1
            continue
        if name in _WRAPPERS:
            idx += 1
            while idx < len(words) and (
                words[idx].startswith("-") or _ASSIGNMENT_RE.match(words[idx])
            ):
                idx += 1
            if name == "timeout" and idx < len(words) and re.match(r"^\d", words[idx]):
                idx += 1
            continue
        break
    rest = words[idx:]
    if not rest:
        return []
    if program_name(rest[0]) in _SHELLS:
        for pos, arg in enumerate(rest[1:], start=1):
            if arg.startswith("-") and "c" in arg[1:] and not arg.startswith("--"):
                if pos + 1 < len(rest):
                    return [rest, *simple_commands(rest[pos + 1], depth + 1)]
                break
    return [rest]
