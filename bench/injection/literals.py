"""Read string data out of Python source files without importing them (their dependencies are not
installed): module and class assignments of string literals, f-strings over known names, lists,
tuples, ``+`` and ``*``. Anything else evaluates to ``None``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any


class _Unknown(Exception):
    pass


def _eval(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _Unknown(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        key = f"{node.value.id}.{node.attr}"
        if key in env:
            return env[key]
        raise _Unknown(key)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(str(_eval(value.value, env)))
            else:
                parts.append(str(_eval(value, env)))
        return "".join(parts)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {_eval(k, env): _eval(v, env) for k, v in zip(node.keys, node.values, strict=True) if k}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _eval(node.left, env), _eval(node.right, env)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise _Unknown(type(node).__name__)


def evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    try:
        return _eval(node, env)
    except (_Unknown, TypeError):
        return None


def module_constants(source: str) -> dict[str, Any]:
    """Module-level ``NAME = <literal>`` assignments that evaluate."""
    env: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = evaluate(node.value, env)
            if value is not None:
                env[node.targets[0].id] = value
    return env


def classes(path: Path) -> dict[str, tuple[list[str], dict[str, Any], str]]:
    """Class name -> (base names, evaluable class attributes, docstring), attributes evaluated in
    order with the module constants and earlier classes' attributes (``Mixin.attr``) in scope."""
    source = path.read_text(encoding="utf-8")
    env = module_constants(source)
    found: dict[str, tuple[list[str], dict[str, Any], str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [b.id for b in node.bases if isinstance(b, ast.Name)] + [
            f"{b.value.id}.{b.attr}"
            for b in node.bases
            if isinstance(b, ast.Attribute) and isinstance(b.value, ast.Name)
        ]
        attrs: dict[str, Any] = {}
        scope = dict(env)
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                value = evaluate(stmt.value, scope)
                if value is not None:
                    attrs[stmt.targets[0].id] = value
                    scope[stmt.targets[0].id] = value
        for name, value in attrs.items():
            env[f"{node.name}.{name}"] = value
        found[node.name] = (bases, attrs, ast.get_docstring(node) or "")
    return found


def resolved(all_classes: dict[str, tuple[list[str], dict[str, Any], str]], name: str) -> dict[str, Any]:
    """A class's attributes with those of its bases filled in (bases listed first win, as in Python)."""
    bases, attrs, _ = all_classes[name]
    merged: dict[str, Any] = {}
    for base in reversed(bases):
        if base in all_classes:
            merged.update(resolved(all_classes, base))
    merged.update(attrs)
    return merged


def string_constants(path: Path) -> list[str]:
    """Every string literal in a file (implicit concatenation already joined by the parser)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
