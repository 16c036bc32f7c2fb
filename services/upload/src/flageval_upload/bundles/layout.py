"""Per-domain layout checks of an uploaded bundle (SPEC §2 "Bundle").

`check_layout` looks at the file list of a complete bundle and at the few small files it has to
understand (``meta.json``, the Python entry points, ``run.sh``) and returns the problems in words a
person understands, in rule order. An empty list means the layout is valid.

Paths are POSIX paths relative to the folder given to ``flageval-serving upload DIR`` (the CLI sends
the *contents* of DIR, so ``DIR/service.py`` arrives as ``service.py``).

Nothing here imports or runs user code: Python files are only parsed with :mod:`ast`, and imports
between files of the bundle are followed statically. Bad user content (binary junk, invalid UTF-8,
huge or malformed JSON, syntax errors) is reported as a problem, never raised. Errors raised by
``read`` itself (a storage fault) propagate: they are not the user's fault and the caller may retry.
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CV_TASKS", "DOMAINS", "MAX_PARSED_BYTES", "check_layout"]

Reader = Callable[[str], Awaitable[bytes]]

#: The largest file this module reads to check (meta.json, Python sources, run.sh).
MAX_PARSED_BYTES = 1024 * 1024

DOMAINS = ("nlp", "cv", "multimodal", "audio", "safety")

#: Keys of ``tasks`` in a CV meta.json. The guide's example uses the first three names; the others are
#: the remaining CV tasks it lists (图像检索, 小样本分类, 深度估计), named in the same style.
CV_TASKS = (
    "classification",
    "segmentation",
    "semi_supervised_classification",
    "retrieval",
    "few_shot_classification",
    "depth_estimation",
)

#: Files that identify a domain's bundle; used to notice an upload of the folder *containing* it.
_MARKERS: dict[str, tuple[str, ...]] = {
    "nlp": ("service.py", "meta.json"),
    "cv": ("meta.json", "model_adapter.py"),
    "multimodal": ("checkpoint.pth", "run.sh"),
    "audio": ("model.py", "convert.py", "ModelWrapper.py"),
}

_NLP_BASES = frozenset(
    {
        "flageval.serving.service.NLPModelService",
        "flageval.serving.service.nlp.NLPModelService",
    }
)

_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


async def check_layout(
    domain: str,
    files: Mapping[str, int],
    read: Reader,
) -> list[str]:
    """Return the layout problems of a bundle of ``domain`` (``[]`` when it is valid).

    ``files`` maps each path to its size in bytes; ``read(path)`` returns a file's bytes and is only
    called for files of at most :data:`MAX_PARSED_BYTES`.
    """
    if domain not in DOMAINS:
        return [
            f"Unknown evaluation domain {str(domain)[:40]!r}; expected one of {', '.join(DOMAINS)}."
        ]
    if domain == "safety":
        return [
            "Safety evaluations call the model through its API (the endpoint, online model name "
            "and API key set on the evaluation); there is nothing to upload, so this upload "
            "cannot be used."
        ]
    bundle = _Bundle(files, read)
    if not bundle.files:
        return [
            "The upload contains no files. Run `flageval-serving upload --token=… DIR` on the "
            "folder that holds the model and its code."
        ]
    hint = _folder_hint(domain, bundle.files)
    if hint is not None:
        return [hint]
    checker = {
        "nlp": _check_nlp,
        "cv": _check_cv,
        "multimodal": _check_multimodal,
        "audio": _check_audio,
    }[domain]
    try:
        return await checker(bundle)
    except RecursionError:
        # Parsing is bounded, but a pathological file could still exhaust the stack while it is
        # inspected; that is the upload's fault, never a reason to fail the caller.
        return ["A file of the upload is nested too deeply to be checked; simplify it."]


# --------------------------------------------------------------------------------------------------
# The bundle and small helpers


class _Bundle:
    def __init__(self, files: Mapping[str, int], read: Reader) -> None:
        self.files: dict[str, int] = dict(files)
        self._read = read

    def has(self, path: str) -> bool:
        return path in self.files

    def has_dir(self, folder: str) -> bool:
        prefix = folder.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    async def small(self, path: str) -> bytes | str:
        """The file's bytes, or a problem when it is too large to check."""
        size = self.files[path]
        if size > MAX_PARSED_BYTES:
            return _too_large(path, size)
        data = await self._read(path)
        if len(data) > MAX_PARSED_BYTES:
            return _too_large(path, len(data))
        return data

    def near_misses(self, path: str) -> list[str]:
        """Other paths with the same file name, ignoring case (a misplaced or misnamed file)."""
        name = path.rsplit("/", 1)[-1].lower()
        found = [p for p in self.files if p != path and p.rsplit("/", 1)[-1].lower() == name]
        return sorted(found, key=lambda p: (p.count("/"), p))[:3]


def _too_large(path: str, size: int) -> str:
    return (
        f"`{path}` is {_fmt_size(size)}; the platform only reads this file when it is at most "
        f"{_fmt_size(MAX_PARSED_BYTES)}. Keep it small (move large content into other files)."
    )


def _fmt_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def _quote_list(paths: Iterable[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths)


def _missing(bundle: _Bundle, path: str, why: str) -> str:
    message = f"`{path}` is missing at the top of the upload. {why}"
    found = bundle.near_misses(path)
    if found:
        message += (
            f" Found {_quote_list(found)}: move or rename it to `{path}` "
            "(names are case-sensitive)."
        )
    return message


def _folder_hint(domain: str, files: Mapping[str, int]) -> str | None:
    """A problem when the bundle's files sit in one folder instead of at the top of the upload."""
    markers = _MARKERS[domain]
    if any(m in files for m in markers):
        return None
    folders: dict[str, list[str]] = {}
    for path in files:
        head, _, name = path.rpartition("/")
        if head and name in markers:
            folders.setdefault(head, []).append(path)
    if len(folders) != 1:
        return None
    ((folder, found),) = folders.items()
    last = folder.rsplit("/", 1)[-1]
    return (
        f"The files are inside the folder `{folder}/` (found {_quote_list(sorted(found))}), but they "
        "must be at the top of the upload: `flageval-serving upload` sends the contents of the "
        f"folder you name. Upload again naming the `{last}` folder itself "
        f"(`flageval-serving upload --token=… {folder}`), not the folder that contains it."
    )


# --------------------------------------------------------------------------------------------------
# JSON


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        return _kind(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_kind(value)})"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _json_hints(text: str) -> list[str]:
    """Explain the usual reasons a hand-written JSON file does not parse."""
    comment = trailing_comma = single_quote = python_literal = False
    in_string = escaped = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "#" or text.startswith(("//", "/*"), i):
            comment = True
        elif c == "'":
            single_quote = True
        elif c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "]}":
                trailing_comma = True
        elif c in "TFN" and (i == 0 or not text[i - 1].isalnum()):
            if text.startswith(("True", "False", "None"), i):
                python_literal = True
        i += 1
    hints = []
    if comment:
        hints.append(
            "JSON does not allow comments (`//`, `#`): remove them (the guide's examples show "
            "them only as explanations)."
        )
    if trailing_comma:
        hints.append("JSON does not allow a comma after the last item of a list or object.")
    if single_quote:
        hints.append('JSON strings use double quotes ("..."), not single quotes.')
    if python_literal:
        hints.append("JSON writes true, false and null in lower case (not True/False/None).")
    return hints


async def _load_json_object(
    bundle: _Bundle, path: str, example: str
) -> tuple[dict[str, Any] | None, str | None]:
    data = await bundle.small(path)
    if isinstance(data, str):
        return None, data
    if not data.strip():
        return None, f"`{path}` is empty; it must contain a JSON object such as {example}."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, (
            f"`{path}` is not UTF-8 text (an invalid byte on line {line}); "
            "save it as a UTF-8 JSON file."
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"`{path}` is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        hints = _json_hints(text)
        return None, " ".join([message, *hints])
    except (RecursionError, MemoryError):
        return None, f"`{path}` could not be read as JSON (it is nested too deeply)."
    except ValueError:
        return None, f"`{path}` could not be read as JSON (a number in it has too many digits)."
    if not isinstance(value, dict):
        return None, (
            f"`{path}` must contain a JSON object such as {example}, but it contains "
            f"{_kind(value)}."
        )
    return value, None


# --------------------------------------------------------------------------------------------------
# Python sources: parse, and resolve names across the bundle's own modules without running them


def _parse_python(path: str, data: bytes) -> ast.Module | str:
    if b"\x00" in data:
        return f"`{path}` is not a Python source file (it contains binary data)."
    try:
        with warnings.catch_warnings():
            # User code may trigger SyntaxWarning/DeprecationWarning (e.g. "\d" in a string);
            # they are not problems and must neither reach the logs nor become errors.
            warnings.simplefilter("ignore")
            return ast.parse(data, filename=path)
    except SyntaxError as exc:
        if exc.msg.startswith("(unicode error)"):
            try:
                data.decode("utf-8-sig")
            except UnicodeDecodeError as dec:
                line = data[: dec.start].count(b"\n") + 1
                return (
                    f"`{path}` is not UTF-8 text (an invalid byte on line {line}); "
                    "save it as UTF-8."
                )
        where = f" line {exc.lineno}" if exc.lineno else ""
        snippet = (exc.text or "").strip()
        if len(snippet) > 60:
            snippet = snippet[:57] + "..."
        shown = f" (`{snippet}`)" if snippet else ""
        return f"`{path}`{where}: {exc.msg}{shown}. Fix this Python syntax error."
    except (ValueError, RecursionError, MemoryError):
        return f"`{path}` could not be parsed as Python (it is nested too deeply)."


def _source_line(data: bytes, lineno: int) -> str:
    lines = data.splitlines()
    text = lines[lineno - 1].decode("utf-8", "replace").strip() if 0 < lineno <= len(lines) else ""
    return text if len(text) <= 60 else text[:57] + "..."


def _signature(args: ast.arguments) -> str:
    """Parameter names only (no defaults or annotations), e.g. ``self, path, *args``."""
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    if args.vararg is not None:
        names.append(f"*{args.vararg.arg}")
    elif args.kwonlyargs:
        names.append("*")
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg is not None:
        names.append(f"**{args.kwarg.arg}")
    return ", ".join(names)


@dataclass(frozen=True)
class _Imported:
    qualname: str


@dataclass(frozen=True)
class _Assigned:
    value: ast.expr


_Binding = ast.ClassDef | _Imported | _Assigned


@dataclass(eq=False)
class _Module:
    name: str
    path: str
    is_package: bool
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _LocalClass:
    module: _Module
    node: ast.ClassDef


@dataclass(frozen=True)
class _LocalModule:
    module: _Module


@dataclass(frozen=True)
class _External:
    qualname: str


_Target = _LocalClass | _LocalModule | _External


def _collect_bindings(module: _Module, tree: ast.Module) -> None:
    """Record what each module-level name may be bound to (every branch of if/try counts)."""

    def bind(name: str, binding: _Binding) -> None:
        module.bindings.setdefault(name, []).append(binding)

    def relative_base(level: int) -> list[str] | None:
        parts = module.name.split(".")
        package = parts if module.is_package else parts[:-1]
        if level - 1 > len(package):
            return None
        base = package[: len(package) - (level - 1)]
        return base or None

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                bind(stmt.name, stmt)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                bind(stmt.name, _Assigned(ast.Constant(None)))
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        bind(alias.asname, _Imported(alias.name))
                    else:
                        top = alias.name.split(".", 1)[0]
                        bind(top, _Imported(top))
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.level:
                    base = relative_base(stmt.level)
                    if base is None:
                        continue
                    source = ".".join([*base, *([stmt.module] if stmt.module else [])])
                else:
                    source = stmt.module or ""
                for alias in stmt.names:
                    if alias.name == "*":
                        module.stars.append(source)
                    else:
                        bind(alias.asname or alias.name, _Imported(f"{source}.{alias.name}"))
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        bind(target.id, _Assigned(stmt.value))
            elif isinstance(stmt, ast.AnnAssign):
                if stmt.value is not None and isinstance(stmt.target, ast.Name):
                    bind(stmt.target.id, _Assigned(stmt.value))
            elif isinstance(stmt, ast.If):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try | ast.TryStar):
                visit(stmt.body)
                for handler in stmt.handlers:
                    visit(handler.body)
                visit(stmt.orelse)
                visit(stmt.finalbody)
            elif isinstance(stmt, ast.With | ast.AsyncWith):
                visit(stmt.body)

    visit(tree.body)


@dataclass
class _Hierarchy:
    classes: list[_LocalClass]
    externals: set[str]
    unresolved: int

    @property
    def complete(self) -> bool:
        """Every base is known: a class of the bundle or a known flageval-serving class."""
        return self.unresolved == 0 and self.externals <= _NLP_BASES

    def member(self, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.expr | None:
        for cls in self.classes:
            found = _class_member(cls.node, name)
            if found is not None:
                return found
        return None


def _class_member(
    node: ast.ClassDef, name: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.expr | None:
    found: ast.FunctionDef | ast.AsyncFunctionDef | ast.expr | None = None
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == name:
            found = stmt
        elif isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            found = stmt.value
        elif (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == name
            and stmt.value is not None
        ):
            found = stmt.value
    return found


class _Python:
    """Parses the bundle's Python modules on demand and resolves names statically."""

    MAX_MODULES = 64
    MAX_CLASSES = 64
    MAX_DEPTH = 40

    def __init__(self, bundle: _Bundle) -> None:
        self.bundle = bundle
        self._modules: dict[str, _Module | None] = {}
        self._memo: dict[tuple[str, str], list[_Target]] = {}
        self._depth = 0
        #: Problems of modules reached through imports that could not be read (path -> problem).
        self.errors: dict[str, str] = {}

    async def entry(self, path: str) -> _Module | str:
        """Parse a top-level file of the bundle; a problem text when it cannot be parsed."""
        name = path.removesuffix(".py")
        data = await self.bundle.small(path)
        if isinstance(data, str):
            return data
        tree = _parse_python(path, data)
        if isinstance(tree, str):
            self._modules[name] = None
            return tree
        module = _Module(name, path, is_package=False)
        _collect_bindings(module, tree)
        self._modules[name] = module
        return module

    async def module(self, dotted: str) -> _Module | None:
        if dotted in self._modules:
            return self._modules[dotted]
        if len(self._modules) >= self.MAX_MODULES or not all(
            part.isidentifier() for part in dotted.split(".")
        ):
            return None
        base = dotted.replace(".", "/")
        module: _Module | None = None
        for path, is_package in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
            if self.bundle.has(path):
                module = _Module(dotted, path, is_package)
                data = await self.bundle.small(path)
                tree = data if isinstance(data, str) else _parse_python(path, data)
                if isinstance(tree, str):
                    self.errors[path] = tree
                else:
                    _collect_bindings(module, tree)
                break
        else:
            if self.bundle.has_dir(base):  # a namespace package
                module = _Module(dotted, f"{base}/", is_package=True)
        self._modules[dotted] = module
        return module

    async def resolve_qualname(self, qualname: str) -> list[_Target]:
        parts = qualname.split(".")
        for k in range(len(parts), 0, -1):
            module = await self.module(".".join(parts[:k]))
            if module is not None:
                targets: list[_Target] = [_LocalModule(module)]
                for attr in parts[k:]:
                    targets = await self._attribute(targets, attr)
                return targets
        return [_External(qualname)]

    async def _attribute(self, targets: list[_Target], attr: str) -> list[_Target]:
        out: list[_Target] = []
        for target in targets:
            if isinstance(target, _External):
                out.append(_External(f"{target.qualname}.{attr}"))
            elif isinstance(target, _LocalModule):
                out.extend(await self.resolve_name(target.module, attr))
                if target.module.is_package:
                    sub = await self.module(f"{target.module.name}.{attr}")
                    if sub is not None:
                        out.append(_LocalModule(sub))
        return out

    async def resolve_name(self, module: _Module, name: str) -> list[_Target]:
        key = (module.path, name)
        if key in self._memo:
            return self._memo[key]
        if self._depth >= self.MAX_DEPTH:
            return []
        self._memo[key] = []  # breaks import cycles
        self._depth += 1
        try:
            out = await self._resolve_bindings(module, name)
        finally:
            self._depth -= 1
        self._memo[key] = out
        return out

    async def _resolve_bindings(self, module: _Module, name: str) -> list[_Target]:
        out: list[_Target] = []
        bindings = module.bindings.get(name)
        if bindings:
            for binding in bindings:
                if isinstance(binding, ast.ClassDef):
                    out.append(_LocalClass(module, binding))
                elif isinstance(binding, _Imported):
                    out.extend(await self.resolve_qualname(binding.qualname))
                else:
                    out.extend(await self.resolve_expr(module, binding.value))
        else:
            for star in module.stars:
                out.extend(await self.resolve_qualname(f"{star}.{name}"))
        return out

    async def resolve_expr(self, module: _Module, expr: ast.expr) -> list[_Target]:
        attrs: list[str] = []
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return []
        targets = await self.resolve_name(module, expr.id)
        for attr in reversed(attrs):
            targets = await self._attribute(targets, attr)
        return targets

    async def hierarchy(self, start: _LocalClass) -> _Hierarchy:
        result = _Hierarchy(classes=[], externals=set(), unresolved=0)
        queue = [start]
        while queue and len(result.classes) < self.MAX_CLASSES:
            cls = queue.pop(0)
            if cls in result.classes:
                continue
            result.classes.append(cls)
            for base in cls.node.bases:
                if isinstance(base, ast.Name) and base.id == "object":
                    continue
                targets = await self.resolve_expr(cls.module, base)
                if not any(isinstance(t, _LocalClass | _External) for t in targets):
                    result.unresolved += 1
                for target in targets:
                    if isinstance(target, _LocalClass):
                        queue.append(target)
                    elif isinstance(target, _External):
                        result.externals.add(target.qualname)
        return result

    def unreadable_note(self) -> str:
        if not self.errors:
            return ""
        return " " + " ".join(
            f"(Could not check an imported file: {e})" for e in self.errors.values()
        )


def _call_problem(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, positional: int, method: bool = True
) -> str | None:
    """Why ``fn`` (a method unless ``method`` is False) cannot be called with N positional args."""
    args = fn.args
    params = [*args.posonlyargs, *args.args]
    bound = method and not any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list
    )
    n_defaults = len(args.defaults)
    if bound:
        if not params and args.vararg is None:
            return "it does not take `self`"
        params = params[1:]
    required = [p.arg for p in params[: max(0, len(params) - n_defaults)]]
    if len(params) < positional and args.vararg is None:
        return "it takes no argument" if not params else f"it takes only {len(params)} argument(s)"
    extra = required[positional:]
    extra += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    if extra:
        return f"it also requires {_quote_list(extra)}"
    return None


# --------------------------------------------------------------------------------------------------
# NLP


_NLP_META_EXAMPLE = '{"parameter_scale_billion": 7}'


async def _check_nlp(bundle: _Bundle) -> list[str]:
    problems: list[str] = []
    await _check_nlp_service(bundle, problems)
    await _check_nlp_meta(bundle, problems)
    await _check_guniconf(bundle, problems)
    if not bundle.has_dir("model"):
        message = (
            "The `model/` folder is missing or empty. Put the model's files (weights, tokenizer, "
            "config) in `model/`: the platform starts `flageval-serving --service service.py run "
            "model`, which passes that folder to `Service.global_init(model_path)`."
        )
        similar = sorted(
            {p.split("/", 1)[0] for p in bundle.files if "/" in p}
            & {"Model", "models", "Models", "MODEL", "model_dir", "weights"}
        )
        if similar:
            message += f" Found {_quote_list(s + '/' for s in similar)}: rename it to `model/`."
        problems.append(message)
    return problems


async def _check_nlp_service(bundle: _Bundle, problems: list[str]) -> None:
    path = "service.py"
    if not bundle.has(path):
        problems.append(
            _missing(
                bundle,
                path,
                "It must define `class Service(NLPModelService)`; the platform starts it with "
                "`flageval-serving --service service.py run model`.",
            )
        )
        return
    python = _Python(bundle)
    module = await python.entry(path)
    if isinstance(module, str):
        problems.append(module)
        return
    how = (
        "Write `from flageval.serving.service import NLPModelService` and "
        "`class Service(NLPModelService): ...`."
    )
    targets = await python.resolve_name(module, "Service")
    found: tuple[_LocalClass, _Hierarchy] | None = None
    for target in targets:
        if isinstance(target, _LocalClass):
            hierarchy = await python.hierarchy(target)
            if hierarchy.externals & _NLP_BASES:
                found = (target, hierarchy)
                break
    if found is None:
        note = python.unreadable_note()
        if not targets and "Service" not in module.bindings:
            message = (
                "`service.py` does not define a class named `Service`; the platform loads "
                "`Service` from service.py."
            )
            others = []
            for name, bindings in module.bindings.items():
                for binding in bindings:
                    if isinstance(binding, ast.ClassDef):
                        h = await python.hierarchy(_LocalClass(module, binding))
                        if h.externals & _NLP_BASES:
                            others.append(name)
            if others:
                message += (
                    f" It defines `{others[0]}(NLPModelService)`: rename it to `Service`, or add "
                    f"`Service = {others[0]}`."
                )
            else:
                message += " " + how
            problems.append(message + note)
            return
        outside = sorted(
            {t.qualname.rsplit(".", 1)[0] for t in targets if isinstance(t, _External)}
        )
        if outside and not any(isinstance(t, _LocalClass) for t in targets):
            problems.append(
                f"In `service.py`, `Service` is imported from {_quote_list(outside)}, which is "
                "not part of the upload, so it cannot be checked. Define `Service` in service.py "
                "(or in a module of the upload). " + how + note
            )
            return
        if not any(isinstance(t, _LocalClass) for t in targets):
            problems.append(
                "In `service.py`, `Service` is not a class that derives from `NLPModelService` "
                "of flageval-serving. " + how + note
            )
            return
        problems.append(
            "In `service.py`, class `Service` does not derive from `NLPModelService` of "
            "flageval-serving. " + how + note
        )
        return
    _, hierarchy = found
    if hierarchy.complete:
        absent = [m for m in ("global_init", "infer") if hierarchy.member(m) is None]
        if absent:
            problems.append(
                f"In `service.py`, class `Service` does not implement {_quote_list(absent)}. "
                "NLPModelService requires `global_init(self, model_path)` (called once at start "
                "with the `model/` folder) and `infer(self, req)` (called for every request); "
                "without them the service cannot start."
            )


async def _check_nlp_meta(bundle: _Bundle, problems: list[str]) -> None:
    path = "meta.json"
    if not bundle.has(path):
        problems.append(
            _missing(
                bundle,
                path,
                "It must give the model's size in billions of parameters, e.g. "
                f"{_NLP_META_EXAMPLE}.",
            )
        )
        return
    meta, problem = await _load_json_object(bundle, path, _NLP_META_EXAMPLE)
    if meta is None:
        problems.append(problem or "")
        return
    key = "parameter_scale_billion"
    if key not in meta:
        problems.append(
            f"`meta.json` has no `{key}`; add the model's size in billions of parameters, e.g. "
            f"{_NLP_META_EXAMPLE}."
        )
        return
    value = meta[key]
    if not _is_number(value):
        message = (
            f"`meta.json`: `{key}` must be a number such as 7 or 0.5 (the model's size in "
            f"billions of parameters); found {_show(value)}."
        )
        if isinstance(value, str):
            message += " Write the number without quotes."
        problems.append(message)
    elif value <= 0:
        problems.append(
            f"`meta.json`: `{key}` must be greater than 0 (the model's size in billions of "
            f"parameters); found {_show(value)}."
        )


def _assignments(body: list[ast.stmt], name: str) -> list[tuple[int, ast.stmt, ast.expr]]:
    """Module-level statements that set ``name`` (every branch of if/try counts)."""
    found: list[tuple[int, ast.stmt, ast.expr]] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                found.append((stmt.lineno, stmt, stmt.value))
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            if isinstance(stmt.target, ast.Name) and stmt.target.id == name and stmt.value:
                found.append((stmt.lineno, stmt, stmt.value))
        elif isinstance(stmt, ast.If):
            found += _assignments(stmt.body, name) + _assignments(stmt.orelse, name)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            found += _assignments(stmt.body, name)
            for handler in stmt.handlers:
                found += _assignments(handler.body, name)
            found += _assignments(stmt.orelse, name) + _assignments(stmt.finalbody, name)
        elif isinstance(stmt, ast.With):
            found += _assignments(stmt.body, name)
    return found


async def _check_guniconf(bundle: _Bundle, problems: list[str]) -> None:
    path = "local_guniconf.py"
    if not bundle.has(path):
        return
    data = await bundle.small(path)
    if isinstance(data, str):
        problems.append(data)
        return
    tree = _parse_python(path, data)
    if isinstance(tree, str):
        problems.append(tree)
        return
    for line, stmt, value in _assignments(tree.body, "workers"):
        if isinstance(stmt, ast.AugAssign) or not (
            isinstance(value, ast.Constant)
            and isinstance(value.value, int)
            and not isinstance(value.value, bool)
            and value.value > 0
        ):
            problems.append(
                f"`{path}` line {line}: `workers` must be a whole number greater than 0 written "
                f"out, e.g. `workers = 4`; found `{_source_line(data, line)}`."
            )
            return


# --------------------------------------------------------------------------------------------------
# CV


_CV_META_EXAMPLE = (
    '{"model_name": "resnet_demo", "is_rgb": true, "output_channels": [256, 512, 1024, 2048], '
    '"output_dims": [4, 4, 4, 4], "mean": [123.675, 116.28, 103.53], '
    '"std": [58.395, 57.12, 57.375], "tasks": {"classification": {"train_batch_size": 128, '
    '"val_batch_size": 128, "out_indices": [3]}}}'
)


async def _check_cv(bundle: _Bundle) -> list[str]:
    problems: list[str] = []
    path = "meta.json"
    if not bundle.has(path):
        problems.append(
            _missing(
                bundle,
                path,
                "It describes the backbone: model_name, is_rgb, output_channels, output_dims, "
                "mean, std and tasks.",
            )
        )
    else:
        meta, problem = await _load_json_object(bundle, path, _CV_META_EXAMPLE)
        if meta is None:
            problems.append(problem or "")
        else:
            problems += _cv_meta_problems(meta)
    await _check_model_adapter(bundle, problems)
    _check_cv_checkpoint(bundle, problems)
    return problems


def _cv_meta_problems(meta: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def check(key: str, ok: Callable[[Any], bool], expected: str) -> bool:
        if key not in meta:
            problems.append(f"`meta.json` has no `{key}`; it must be {expected}.")
            return False
        if not ok(meta[key]):
            problems.append(f"`meta.json`: `{key}` must be {expected}; found {_show(meta[key])}.")
            return False
        return True

    def int_list(value: Any, ok: Callable[[int], bool]) -> bool:
        return (
            isinstance(value, list) and len(value) > 0 and all(_is_int(v) and ok(v) for v in value)
        )

    def triple(value: Any, positive: bool) -> bool:
        return (
            isinstance(value, list)
            and len(value) == 3
            and all(_is_number(v) and (v > 0 or not positive) for v in value)
        )

    check(
        "model_name",
        lambda v: isinstance(v, str) and bool(v.strip()),
        'a non-empty string naming the model, e.g. "resnet_demo"',
    )
    check("is_rgb", lambda v: isinstance(v, bool), "true or false (whether inputs are RGB)")
    channels_ok = check(
        "output_channels",
        lambda v: int_list(v, lambda i: i > 0),
        "a non-empty list with the channel count (> 0) of each feature map the backbone returns, "
        "e.g. [256, 512, 1024, 2048]",
    )
    dims_ok = check(
        "output_dims",
        lambda v: int_list(v, lambda i: i in (3, 4)),
        "a list with the number of dimensions (3 or 4) of each feature map the backbone "
        "returns, e.g. [4, 4, 4, 4]",
    )
    channels: list[int] = meta["output_channels"] if channels_ok else []
    dims: list[int] = meta["output_dims"] if dims_ok else []
    if channels and dims and len(channels) != len(dims):
        problems.append(
            f"`meta.json`: `output_channels` lists {len(channels)} feature map(s) but "
            f"`output_dims` lists {len(dims)}; both describe the same feature maps, one entry each."
        )
        dims = []
    check(
        "mean",
        lambda v: triple(v, positive=False),
        "a list of 3 numbers (the per-channel mean used to normalise input images), "
        "e.g. [123.675, 116.28, 103.53]",
    )
    check(
        "std",
        lambda v: triple(v, positive=True),
        "a list of 3 numbers greater than 0 (the per-channel standard deviation), "
        "e.g. [58.395, 57.12, 57.375]",
    )
    if not check(
        "tasks",
        lambda v: isinstance(v, dict) and len(v) > 0,
        'an object with one entry per task, e.g. {"classification": {"train_batch_size": 128, '
        '"val_batch_size": 128, "out_indices": [3]}}',
    ):
        return problems
    for task, settings in meta["tasks"].items():
        where = f"`tasks.{task}`"
        if task not in CV_TASKS:
            problems.append(
                f"`meta.json`: unknown task `{task}` in `tasks`; the tasks are "
                f"{', '.join(CV_TASKS)}."
            )
            continue
        if not isinstance(settings, dict):
            problems.append(
                f"`meta.json`: {where} must be an object with `out_indices` (and optionally "
                f"`train_batch_size`, `val_batch_size`); found {_show(settings)}."
            )
            continue
        for key in ("train_batch_size", "val_batch_size"):
            if key in settings and not (_is_int(settings[key]) and settings[key] > 0):
                problems.append(
                    f"`meta.json`: `tasks.{task}.{key}` must be a whole number greater than 0 "
                    f"(or left out to use the platform's default); found {_show(settings[key])}."
                )
        key = "out_indices"
        if key not in settings:
            problems.append(
                f"`meta.json`: {where} has no `{key}`; list the feature maps this task uses, "
                "e.g. [3] for the last of four."
            )
            continue
        indices = settings[key]
        if not int_list(indices, lambda i: True):
            problems.append(
                f"`meta.json`: `tasks.{task}.{key}` must be a non-empty list of feature-map "
                f"indices, e.g. [3] or [0, 1, 2, 3]; found {_show(indices)}."
            )
            continue
        if channels:
            bad = [i for i in indices if not 0 <= i < len(channels)]
            if bad:
                problems.append(
                    f"`meta.json`: `tasks.{task}.{key}` refers to feature map(s) {bad}, but "
                    f"the backbone returns {len(channels)} (`output_channels`), numbered 0 to "
                    f"{len(channels) - 1}."
                )
                continue
        if task == "segmentation" and dims:
            flat = [i for i in indices if 0 <= i < len(dims) and dims[i] != 4]
            if flat:
                problems.append(
                    f"`meta.json`: segmentation only supports 4-dimensional feature maps "
                    f"([B, C, H, W]), but `tasks.segmentation.{key}` uses feature map(s) {flat} "
                    f"whose `output_dims` is not 4."
                )
    return problems


async def _check_model_adapter(bundle: _Bundle, problems: list[str]) -> None:
    path = "model_adapter.py"
    how = (
        "It must define `class ModelAdapter` with `def model_init(self, checkpoint_path):` that "
        "returns the backbone; the platform calls `ModelAdapter().model_init(checkpoint_path)`."
    )
    if not bundle.has(path):
        problems.append(_missing(bundle, path, how))
        return
    python = _Python(bundle)
    module = await python.entry(path)
    if isinstance(module, str):
        problems.append(module)
        return
    targets = await python.resolve_name(module, "ModelAdapter")
    local = [t for t in targets if isinstance(t, _LocalClass)]
    if not local:
        outside = sorted(
            {t.qualname.rsplit(".", 1)[0] for t in targets if isinstance(t, _External)}
        )
        if outside:
            problems.append(
                f"In `model_adapter.py`, `ModelAdapter` is imported from {_quote_list(outside)}, "
                "which is not part of the upload, so it cannot be checked. Define the class in "
                "the upload. " + how + python.unreadable_note()
            )
        else:
            problems.append(
                "`model_adapter.py` does not define a class named `ModelAdapter`. "
                + how
                + python.unreadable_note()
            )
        return
    hierarchy = await python.hierarchy(local[0])
    model_init = hierarchy.member("model_init")
    if model_init is None:
        problems.append(
            "In `model_adapter.py`, class `ModelAdapter` has no `model_init` method. " + how
        )
    elif isinstance(model_init, ast.FunctionDef | ast.AsyncFunctionDef):
        why = _call_problem(model_init, 1)
        if why:
            problems.append(
                "In `model_adapter.py`, `ModelAdapter.model_init` must take the checkpoint path "
                f"as its one argument, `def model_init(self, checkpoint_path):`, but {why} "
                f"(`def model_init({_signature(model_init.args)})`)."
            )
    init = hierarchy.member("__init__")
    if isinstance(init, ast.FunctionDef | ast.AsyncFunctionDef):
        why = _call_problem(init, 0)
        if why:
            problems.append(
                "In `model_adapter.py`, `ModelAdapter` must be creatable without arguments (the "
                f"platform calls `ModelAdapter()`), but its `__init__` cannot: {why}."
            )


def _check_cv_checkpoint(bundle: _Bundle, problems: list[str]) -> None:
    path = "model/checkpoint.pth"
    if bundle.has(path):
        return
    message = (
        f"`{path}` is missing. The model weights must be uploaded as exactly `{path}` (this "
        "name, in the `model/` folder); the platform passes that path to "
        "`ModelAdapter().model_init(checkpoint_path)`."
    )
    found = bundle.near_misses(path)
    if not found:
        found = sorted(
            p for p in bundle.files if p.startswith("model/") and p.endswith(_WEIGHT_SUFFIXES)
        )[:3]
    if found:
        message += f" Found {_quote_list(found)}: move or rename it to `{path}`."
    problems.append(message)


# --------------------------------------------------------------------------------------------------
# Multimodal


async def _check_multimodal(bundle: _Bundle) -> list[str]:
    problems: list[str] = []
    if not bundle.has("checkpoint.pth"):
        problems.append(
            _missing(
                bundle,
                "checkpoint.pth",
                "The platform gives its path to your code (`checkpoint_path` of `/io_info`).",
            )
        )
    path = "run.sh"
    usage = "The platform runs `bash run.sh TASK SERVER_IP SERVER_PORT`."
    if not bundle.has(path):
        problems.append(_missing(bundle, path, usage))
        return problems
    if bundle.files[path] == 0:
        problems.append(f"`{path}` is empty. {usage}")
        return problems
    if bundle.files[path] > MAX_PARSED_BYTES:
        return problems
    data = await bundle.small(path)
    if isinstance(data, str):
        return problems
    if b"\x00" in data:
        problems.append(f"`{path}` is not a shell script (it contains binary data). {usage}")
    elif not any(line.strip() and not line.strip().startswith(b"#") for line in data.splitlines()):
        problems.append(f"`{path}` contains no commands, only blank lines or comments. {usage}")
    elif b"\r\n" in data:
        problems.append(
            f"`{path}` has Windows line endings (CRLF), which make bash fail "
            "(`$'\\r': command not found`). Save it with Unix line endings (LF), e.g. with "
            "`dos2unix run.sh`."
        )
    return problems


# --------------------------------------------------------------------------------------------------
# Audio


async def _check_audio(bundle: _Bundle) -> list[str]:
    problems: list[str] = []
    roles = {
        "model.py": "the model's configuration classes and model structure",
        "convert.py": "the checkpoint conversion (`load_converted_model`)",
        "ModelWrapper.py": "the class the platform loads, returning (features, mask) and "
        "`get_output_dim()`",
    }
    for path, role in roles.items():
        if not bundle.has(path):
            problems.append(
                _missing(
                    bundle,
                    path,
                    f"An audio upload is the upstream model folder; `{path}` holds {role}.",
                )
            )
            continue
        data = await bundle.small(path)
        tree = data if isinstance(data, str) else _parse_python(path, data)
        if isinstance(tree, str):
            problems.append(tree)
    return problems
