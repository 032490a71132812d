"""What the checker reads from a code location's source text with ``ast`` (never by running it).

* where each definition is written (``file:line``), so messages point at the line to fix:
  ``def name`` (decorated ops, assets, jobs, schedules, sensors) and calls that name a definition
  with a string (``define_asset_job("daily", ...)``, ``ScheduleDefinition(name="hourly", ...)``);
* every ``RetryRequested(...)``: its ``max_retries`` when it is a literal, or the fact that it is
  computed at run time;
* the statement around a line, for the tag helpers' import-time messages (which definition a
  refused value was meant for, and the other helper calls in the same statement).

Standard library only.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass

#: Decorators and constructors, and what people call the definition they make.
DEFINITION_KINDS = {
    "job": "job",
    "graph": "job",
    "define_asset_job": "job",
    "JobDefinition": "job",
    "asset": "asset",
    "multi_asset": "asset",
    "graph_asset": "asset",
    "graph_multi_asset": "asset",
    "op": "op",
    "asset_check": "asset check",
    "schedule": "schedule",
    "ScheduleDefinition": "schedule",
    "build_schedule_from_partitioned_job": "schedule",
    "sensor": "sensor",
    "asset_sensor": "sensor",
    "multi_asset_sensor": "sensor",
    "run_status_sensor": "sensor",
    "run_failure_sensor": "sensor",
    "SensorDefinition": "sensor",
    "AutomationConditionSensorDefinition": "sensor",
}


@dataclass(frozen=True)
class SourceLine:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class RetryRequestedCall:
    where: SourceLine
    #: The literal ``max_retries``; None when computed at run time; 1 (Dagster's default) if absent.
    max_retries: int | None
    expression: str
    #: The innermost function the call is written in (an op's or asset's compute function).
    function: str | None = None


@functools.lru_cache(maxsize=256)
def _parse(path: str, _mtime: float) -> ast.Module | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None


def parse(path: str) -> ast.Module | None:
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    return _parse(path, mtime)


def _callee(node: ast.AST) -> str | None:
    """``f`` for ``f(...)``, ``m.f(...)`` and ``@f``/``@f(...)``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string_name(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


@dataclass
class DefinitionIndex:
    """Where names are defined across the location's source files (first occurrence wins)."""

    lines: dict[str, SourceLine]

    @classmethod
    def build(cls, paths: Iterable[str]) -> DefinitionIndex:
        lines: dict[str, SourceLine] = {}
        for path in paths:
            tree = parse(path)
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    line = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                    lines.setdefault(node.name, SourceLine(path, line))
                    for decorator in node.decorator_list:
                        if isinstance(decorator, ast.Call) and _callee(decorator) in DEFINITION_KINDS:
                            named = _string_name(decorator)
                            if named:
                                lines.setdefault(named, SourceLine(path, line))
                elif isinstance(node, ast.Call) and _callee(node) in DEFINITION_KINDS:
                    named = _string_name(node)
                    if named:
                        lines.setdefault(named, SourceLine(path, node.lineno))
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            lines.setdefault(target.id, SourceLine(path, node.lineno))
            _partitioned_schedules(tree, path, lines)
        return cls(lines)

    def find(self, *names: str) -> SourceLine | None:
        for name in names:
            if name in self.lines:
                return self.lines[name]
        return None


def _partitioned_schedules(tree: ast.Module, path: str, lines: dict[str, SourceLine]) -> None:
    """``build_schedule_from_partitioned_job(job_var)`` names its schedule ``<job name>_schedule``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            named = _string_name(node.value)
            for target in node.targets:
                if named and isinstance(target, ast.Name):
                    aliases[target.id] = named
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            aliases.setdefault(node.name, node.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _callee(node) == "build_schedule_from_partitioned_job"
            and not any(k.arg == "name" for k in node.keywords)
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            job_name = aliases.get(node.args[0].id, node.args[0].id)
            lines.setdefault(f"{job_name}_schedule", SourceLine(path, node.lineno))


def retry_requested_calls(paths: Iterable[str]) -> list[RetryRequestedCall]:
    """Every ``RetryRequested(...)`` in the files, in file and line order."""
    calls = []
    for path in paths:
        tree = parse(path)
        if tree is None:
            continue
        enclosing: dict[int, str] = {}
        for function in ast.walk(tree):  # outer functions first, so inner ones overwrite
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(function):
                    enclosing[id(inner)] = function.name
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _callee(node) == "RetryRequested"):
                continue
            argument: ast.expr | None = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg == "max_retries":
                    argument = keyword.value
            if argument is None:
                value: int | None = 1  # RetryRequested's default
            else:
                try:
                    literal = ast.literal_eval(argument)
                except ValueError:
                    literal = None
                value = literal if isinstance(literal, int) and not isinstance(literal, bool) else None
            calls.append(
                RetryRequestedCall(SourceLine(path, node.lineno), value, ast.unparse(node), enclosing.get(id(node)))
            )
    return sorted(calls, key=lambda c: (c.where.path, c.where.line))


@dataclass(frozen=True)
class EnclosingDefinition:
    kind: str
    name: str
    statement: ast.stmt


def enclosing_definition(path: str, line: int) -> EnclosingDefinition | None:
    """The Dagster definition whose statement spans ``line`` (a decorated function or a call such
    as ``define_asset_job("name", ...)``), searched from the innermost statement outwards; None
    when the line is not part of one. ``statement`` is the part holding the tags: the decorators of
    a decorated function, else the whole statement."""
    tree = parse(path)
    if tree is None:
        return None
    spanning = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt)
        and min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        <= line
        <= (node.end_lineno or node.lineno)
    ]
    spanning.sort(key=lambda node: (node.end_lineno or node.lineno) - node.lineno)
    for statement in spanning:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = [d for d in statement.decorator_list if _callee(d) in DEFINITION_KINDS]
            in_decorators = any(d.lineno <= line <= (d.end_lineno or d.lineno) for d in statement.decorator_list)
            if decorators and in_decorators:
                named = next((_string_name(d) for d in decorators if isinstance(d, ast.Call) and _string_name(d)), None)
                holder = ast.Expr(value=ast.Tuple(elts=list(statement.decorator_list), ctx=ast.Load()))
                return EnclosingDefinition(DEFINITION_KINDS[_callee(decorators[0])], named or statement.name, holder)
            continue
        if isinstance(statement, (ast.Assign, ast.Expr, ast.AnnAssign, ast.Return)):
            for node in ast.walk(statement):
                if isinstance(node, ast.Call) and _callee(node) in DEFINITION_KINDS:
                    named = _string_name(node)
                    if named is None and isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                        named = statement.targets[0].id
                    if named:
                        return EnclosingDefinition(DEFINITION_KINDS[_callee(node)], named, statement)
    return None


def helper_calls(statement: ast.stmt, helper_names: Iterable[str]) -> list[ast.Call]:
    """Calls to the named helpers inside a statement, in source order."""
    names = set(helper_names)
    found = [node for node in ast.walk(statement) if isinstance(node, ast.Call) and _callee(node) in names]
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))
