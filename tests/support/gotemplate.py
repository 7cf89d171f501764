"""A small renderer for the Go-template subset the Helm chart uses (no Helm binary installs here).

Supported: text with ``{{ }}`` actions and ``{{-``/``-}}`` trimming, comments, ``if``/``else``/
``end``, ``with``, ``$name := …``, ``range $k, $v := …`` over maps and ``range …`` over lists,
``define`` and ``include``, pipelines with ``|``, parenthesised sub-pipelines, ``.``/``$``
paths, string,
number and boolean literals, and Helm's functions ``include``, ``toYaml``, ``toToml``,
``nindent``, ``indent``, ``quote``, ``squote``, ``b64enc``, ``default``, ``required``, ``eq``,
``ne``, ``not``, ``and``, ``or``, ``printf``, ``trunc``, ``trimSuffix``, ``replace``, ``lower``,
``toString``, ``int``, ``dict``, ``list``, ``hasKey``, ``empty``, ``sha256sum``. Anything else
is an error, so a template the real Helm would render differently fails the test instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_ASSIGN = re.compile(r"(\$\w+)\s*:=\s*(.+)", re.S)


class TemplateError(ValueError):
    pass


@dataclass
class _Node:
    kind: str  # text, action, if, with, range, define
    text: str = ""
    children: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if match.group(1):
            text = text.rstrip()
        if out and out[-1][0] == "trim_next":
            out.pop()
            text = text.lstrip()
        out.append(("text", text))
        body = match.group(2).strip()
        if not body.startswith("/*"):
            out.append(("action", body))
        if match.group(3):
            out.append(("trim_next", ""))
        pos = match.end()
    tail = source[pos:]
    if out and out[-1][0] == "trim_next":
        out.pop()
        tail = tail.lstrip()
    out.append(("text", tail))
    return out


def parse(source: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, body in _tokens(source):
        target = stack[-1][1]
        if kind == "text":
            if body:
                target.append(_Node("text", body))
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word) :].strip()
        if word in ("if", "with", "range", "define"):
            node = _Node(word, rest)
            target.append(node)
            stack.append((node, node.children))
        elif word == "else":
            node = stack[-1][0]
            if node is None or node.kind not in ("if", "with", "range") or rest:
                raise TemplateError(f"unsupported else: {body!r}")
            stack[-1] = (node, node.orelse)
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("unbalanced end")
            stack.pop()
        else:
            target.append(_Node("action", body))
    if len(stack) != 1:
        raise TemplateError("missing end")
    return root


def _split(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside quotes and parentheses."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            current += ch
            if ch == quote and not current.endswith("\\" + quote):
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and sep != " ":
            parts.append(current)
            current = ""
            continue
        if sep == " " and ch.isspace() and depth == 0:
            if current:
                parts.append(current)
            current = ""
            continue
        current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (
        isinstance(value, list | dict | tuple) and not value
    )


def _indent(n: int, text: Any) -> str:
    pad = " " * int(n)
    return "\n".join(pad + line if line else line for line in str(text).split("\n"))


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    dumped: str = yaml.safe_dump(value, sort_keys=True, default_flow_style=False)
    return dumped.rstrip("\n").removesuffix("\n...")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TemplateError(f"toToml: unsupported value {value!r}")


def to_toml(value: Mapping[str, Any], prefix: str = "") -> str:
    """TOML of a map: scalars first, then one table per nested map (maps of scalars only
    deeper than one level are written inline)."""
    lines, tables = [], []
    for key in sorted(value):
        item = value[key]
        if item is None:
            continue
        if isinstance(item, dict) and not prefix:
            tables.append((key, item))
        else:
            lines.append(f"{key} = {_toml_value(item)}")
    out = "\n".join(lines)
    for key, table in tables:
        body = to_toml(table, prefix=key)
        out += ("\n\n" if out else "") + f"[{key}]" + ("\n" + body if body else "")
    return out


def _printf(fmt: str, *args: Any) -> str:
    return re.sub(r"%[sdv]", "{}", fmt).format(*args)


class Renderer:
    """Renders templates of one chart with ``define``s shared across files."""

    def __init__(self) -> None:
        self.defines: dict[str, list[_Node]] = {}
        self.functions: dict[str, Callable[..., Any]] = {
            "include": lambda name, ctx: self._render(self.defines[name], ctx, ctx),
            "toYaml": to_yaml,
            "toToml": to_toml,
            "nindent": lambda n, s: "\n" + _indent(n, s),
            "indent": _indent,
            "quote": lambda v="": json.dumps("" if v is None else str(v)),
            "squote": lambda v="": "'" + str(v) + "'",
            "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
            "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
            "default": lambda d, v=None: v if truthy(v) else d,
            "required": self._required,
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "not": lambda v: not truthy(v),
            "and": lambda *v: all(truthy(x) for x in v),
            "or": lambda *v: next((x for x in v if truthy(x)), v[-1]),
            "empty": lambda v: not truthy(v),
            "printf": _printf,
            "trunc": lambda n, s: str(s)[: int(n)],
            "trimSuffix": lambda suffix, s: str(s).removesuffix(suffix),
            "replace": lambda old, new, s: str(s).replace(old, new),
            "lower": lambda s: str(s).lower(),
            "toString": lambda v: "" if v is None else str(v),
            "int": lambda v: int(v),
            "dict": lambda *kv: dict(zip(kv[::2], kv[1::2], strict=True)),
            "list": lambda *v: list(v),
            "hasKey": lambda m, k: k in m,
        }

    @staticmethod
    def _required(message: str, value: Any = None) -> Any:
        if not truthy(value):
            raise TemplateError(message)
        return value

    def load(self, source: str) -> list[_Node]:
        nodes = parse(source)
        for node in nodes:
            if node.kind == "define":
                self.defines[json.loads(node.text)] = node.children
        return [n for n in nodes if n.kind != "define"]

    def render(self, nodes: list[_Node], context: Mapping[str, Any]) -> str:
        return self._render(nodes, context, context)

    def _render(
        self, nodes: list[_Node], dot: Any, root: Any, scope: dict[str, Any] | None = None
    ) -> str:
        scope = scope if scope is not None else {}
        out = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action" and (assign := _ASSIGN.fullmatch(node.text)):
                scope[assign.group(1)] = self._pipeline(assign.group(2), dot, root, scope)
            elif node.kind == "action":
                value = self._pipeline(node.text, dot, root, scope)
                out.append("" if value is None else _string(value))
            elif node.kind == "if":
                branch = (
                    node.children
                    if truthy(self._pipeline(node.text, dot, root, scope))
                    else node.orelse
                )
                out.append(self._render(branch, dot, root, scope))
            elif node.kind == "with":
                value = self._pipeline(node.text, dot, root, scope)
                if truthy(value):
                    out.append(self._render(node.children, value, root, scope))
                else:
                    out.append(self._render(node.orelse, dot, root, scope))
            elif node.kind == "range":
                out.append(self._range(node, dot, root, scope))
            else:
                raise TemplateError(f"unexpected {node.kind}")
        return "".join(out)

    def _range(self, node: _Node, dot: Any, root: Any, scope: dict[str, Any]) -> str:
        names: list[str] = []
        expr = node.text
        if ":=" in expr:
            left, expr = expr.split(":=", 1)
            names = [n.strip() for n in left.split(",")]
        items = self._pipeline(expr.strip(), dot, root, scope)
        pairs = sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        if not pairs:
            return self._render(node.orelse, dot, root, scope)
        out = []
        for key, value in pairs:
            inner = dict(scope)
            if len(names) == 2:
                inner[names[0]], inner[names[1]] = key, value
            elif len(names) == 1:
                inner[names[0]] = value
            out.append(self._render(node.children, value, root, inner))
        return "".join(out)

    def _pipeline(self, text: str, dot: Any, root: Any, scope: dict[str, Any]) -> Any:
        result: Any = _NOTHING
        for command in _split(text, "|"):
            terms = _split(command, " ")
            if not terms:
                raise TemplateError(f"empty command in {text!r}")
            head, args = terms[0], [self._term(t, dot, root, scope) for t in terms[1:]]
            if result is not _NOTHING:
                args.append(result)
            if head in self.functions:
                result = self.functions[head](*args)
            elif args:
                raise TemplateError(f"unknown function {head!r}")
            else:
                result = self._term(head, dot, root, scope)
        return result

    def _term(self, term: str, dot: Any, root: Any, scope: dict[str, Any]) -> Any:
        if term.startswith("(") and term.endswith(")"):
            return self._pipeline(term[1:-1], dot, root, scope)
        if term[0] in '"`':
            return json.loads(term) if term[0] == '"' else term[1:-1]
        if term in ("true", "false"):
            return term == "true"
        if term == "nil":
            return None
        if re.fullmatch(r"-?\d+", term):
            return int(term)
        if term == ".":
            return dot
        if term.startswith("$"):
            name, _, path = term.partition(".")
            base = root if name == "$" else scope[name]
            return _walk(base, path)
        if term.startswith("."):
            return _walk(dot, term[1:])
        if term in self.functions:
            return self.functions[term]()
        raise TemplateError(f"unsupported term {term!r}")


_NOTHING = object()


def _walk(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
        if value is None:
            return None
    return value


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)  # Go prints maps differently; the chart never does this
    return str(value)


def merge(base: Any, override: Any) -> Any:
    """Helm's values merge: maps merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return override


def render_chart(
    chart: Path, values: Mapping[str, Any] | None = None, release: str = "coordinator",
    namespace: str = "default",
) -> dict[str, str]:  # fmt: skip
    """Every template of ``chart`` rendered with its values (merged with ``values``)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    context = {
        "Values": merge(defaults, dict(values or {})),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta["appVersion"],
        },
    }
    renderer = Renderer()
    templates = sorted((chart / "templates").iterdir())
    bodies = {}
    for path in templates:
        nodes = renderer.load(path.read_text())
        if not path.name.startswith("_"):
            bodies[path.name] = nodes
    return {name: renderer.render(nodes, context) for name, nodes in bodies.items()}
