"""A parser of CloudWatch Logs filter patterns, so a pattern CloudWatch would refuse fails synth.

The syntax is the documented one ("Filter pattern syntax for metric filters, subscription
filters, filter log events and Live Tail"), in three forms:

* terms: ``ERROR``, ``"Failed to start"``, ``?ERROR ?WARN`` (any), ``ERROR -Exiting``
  (exclusion), ``%regex%``; unquoted terms are letters, digits and ``_`` (others must be quoted);
* JSON: ``{ $.level = "ERROR" }``, ``{ ($.latency > 500) && ($.path != "/health") }``,
  ``{ $.user.id = * }``, ``{ $.a[0].b IS NULL }``, ``{ $.x NOT EXISTS }``, ``{ $.ok IS TRUE }``,
  ``{ $.msg = %time(d)?out% }``; ``<``, ``>``, ``<=``, ``>=`` compare numbers only, regex
  only with ``=`` and ``!=``;
* space-delimited: ``[ip, user, ..., status = 4* || status = 5*, size > 1000]``.

Regular expressions between ``%`` may use only letters, digits, ``: _ # = @ / ; , -`` and the
operators ``^ $ ? [ ] { } | \\ * + .`` (no ``()``, no multibyte characters); a JSON or
space-delimited pattern holds at most two of them. The longest pattern is read from the
CloudWatch Logs API model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .aws_models import shape_limits

REGEX_ALLOWED = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+.]*")
MAX_REGEX_IN_STRUCTURED_PATTERN = 2
_COMPARISONS = ("!=", "<=", ">=", "=", "<", ">")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BARE_TERM = re.compile(r"[A-Za-z0-9_]+")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALUE_STOP = set(" \t\r\n()&|{}[],\"")
_SELECTOR_NAME = re.compile(r"[^\s.\[\]=!<>()&|{}\"%]+")


class FilterPatternError(ValueError):
    """The pattern is not one CloudWatch Logs accepts; the message says what and where."""


def max_filter_pattern_length() -> int:
    return shape_limits("logs", "FilterPattern")["max"]


@dataclass
class _Reader:
    text: str
    pos: int = 0
    regexes: int = 0

    def fail(self, message: str) -> FilterPatternError:
        return FilterPatternError(f"{message} at position {self.pos + 1}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_spaces()
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        self.skip_spaces()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, what: str) -> None:
        if not self.take(token):
            found = self.text[self.pos : self.pos + 10] or "the end"
            raise self.fail(f"expected {what}, found {found!r}")

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1  # opening quote
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return self.text[start + 1 : self.pos - 1]
            self.pos += 1
        self.pos = start
        raise self.fail("unterminated quoted term")

    def regex(self) -> str:
        start = self.pos
        end = self.text.find("%", start + 1)
        if end < 0:
            raise self.fail("unterminated %regex% (a regular expression ends with %)")
        body = self.text[start + 1 : end]
        if not body:
            raise self.fail("empty %regex%")
        bad = sorted({char for char in body if not REGEX_ALLOWED.fullmatch(char)})
        if bad:
            raise self.fail(
                f"%regex% may not contain {' '.join(map(repr, bad))} (allowed: letters, digits, "
                r": _ # = @ / ; , - and the operators ^ $ ? [ ] { } | \ * + .; no parentheses)"
            )
        self.pos = end + 1
        self.regexes += 1
        return body


def check_filter_pattern(pattern: str) -> None:
    """Raise :class:`FilterPatternError` unless CloudWatch Logs accepts ``pattern``."""
    limit = max_filter_pattern_length()
    if len(pattern) > limit:
        raise FilterPatternError(f"a filter pattern may have at most {limit} characters, this has {len(pattern)}")
    reader = _Reader(pattern)
    if reader.at_end():
        return  # empty: every event
    if reader.peek("{"):
        _json_pattern(reader)
    elif reader.peek("["):
        _delimited_pattern(reader)
    else:
        _terms(reader)
        return
    if not reader.at_end():
        raise reader.fail("unexpected text after the pattern")
    if reader.regexes > MAX_REGEX_IN_STRUCTURED_PATTERN:
        raise FilterPatternError(
            f"a JSON or space-delimited pattern may hold at most {MAX_REGEX_IN_STRUCTURED_PATTERN} %regex%, "
            f"this has {reader.regexes}"
        )


# --- terms -------------------------------------------------------------------------------------


def _terms(reader: _Reader) -> None:
    while not reader.at_end():
        prefix = reader.text[reader.pos]
        if prefix in "?-":
            reader.pos += 1
            if reader.pos >= len(reader.text) or reader.text[reader.pos].isspace():
                raise reader.fail(f"'{prefix}' must be followed by a term, without a space")
        char = reader.text[reader.pos]
        if char == '"':
            reader.quoted()
        elif char == "%":
            reader.regex()
        else:
            start = reader.pos
            while reader.pos < len(reader.text) and not reader.text[reader.pos].isspace():
                reader.pos += 1
            word = reader.text[start : reader.pos]
            if not _BARE_TERM.fullmatch(word):
                reader.pos = start
                raise reader.fail(
                    f"unquoted term {word!r} may contain only letters, digits and _; put it in double quotes"
                )
        if reader.pos < len(reader.text) and not reader.text[reader.pos].isspace():
            raise reader.fail("terms must be separated by spaces")


# --- values shared by JSON and space-delimited patterns -----------------------------------------


def _comparison(reader: _Reader) -> str:
    reader.skip_spaces()
    for op in _COMPARISONS:
        if reader.text.startswith(op, reader.pos):
            reader.pos += len(op)
            return op
    found = reader.text[reader.pos : reader.pos + 10] or "the end"
    raise reader.fail(f"expected a comparison (=, !=, <, >, <=, >=), found {found!r}")


def _value(reader: _Reader, op: str) -> None:
    reader.skip_spaces()
    if reader.pos >= len(reader.text):
        raise reader.fail(f"expected a value after {op!r}")
    char = reader.text[reader.pos]
    numeric = op in ("<", ">", "<=", ">=")
    if char == '"':
        if numeric:
            raise reader.fail(f"{op!r} compares numbers; a quoted string can only be compared with = or !=")
        reader.quoted()
        return
    if char == "%":
        if numeric:
            raise reader.fail(f"{op!r} compares numbers; a %regex% can only be used with = or !=")
        reader.regex()
        return
    start = reader.pos
    while reader.pos < len(reader.text) and reader.text[reader.pos] not in _VALUE_STOP:
        reader.pos += 1
    word = reader.text[start : reader.pos]
    if not word:
        raise reader.fail(f"expected a value after {op!r}")
    if numeric and not _NUMBER.fullmatch(word):
        reader.pos = start
        raise reader.fail(f"{op!r} compares numbers, not {word!r}")


# --- JSON ----------------------------------------------------------------------------------------


def _json_pattern(reader: _Reader) -> None:
    reader.expect("{", "'{'")
    if reader.peek("}"):
        raise reader.fail("empty JSON pattern { }")
    _json_or(reader)
    reader.expect("}", "'}' closing the JSON pattern (or && / ||)")


def _json_or(reader: _Reader) -> None:
    _json_and(reader)
    while reader.take("||"):
        _json_and(reader)


def _json_and(reader: _Reader) -> None:
    _json_primary(reader)
    while reader.take("&&"):
        _json_primary(reader)


def _json_primary(reader: _Reader) -> None:
    if reader.take("("):
        _json_or(reader)
        reader.expect(")", "')'")
        return
    _selector(reader)
    reader.skip_spaces()
    rest = reader.text[reader.pos :]
    for suffix in ("IS TRUE", "IS FALSE", "IS NULL", "NOT EXISTS"):
        if re.match(suffix.replace(" ", r"\s+") + r"(?![A-Za-z0-9_])", rest, re.IGNORECASE):
            reader.pos += len(re.match(suffix.replace(" ", r"\s+"), rest, re.IGNORECASE).group(0))
            return
    op = _comparison(reader)
    _value(reader, op)


def _selector(reader: _Reader) -> None:
    reader.skip_spaces()
    if not reader.text.startswith("$", reader.pos):
        found = reader.text[reader.pos : reader.pos + 10] or "the end"
        raise reader.fail(f"expected a property selector such as $.level, found {found!r}")
    reader.pos += 1
    steps = 0
    while reader.pos < len(reader.text):
        char = reader.text[reader.pos]
        if char == ".":
            reader.pos += 1
            if reader.text.startswith("*", reader.pos):
                reader.pos += 1
            else:
                match = _SELECTOR_NAME.match(reader.text, reader.pos)
                if not match:
                    raise reader.fail("expected a property name after '.'")
                reader.pos = match.end()
        elif char == "[":
            match = re.compile(r"\[(\d+|\*)\]").match(reader.text, reader.pos)
            if not match:
                raise reader.fail("expected an array index such as [0] or [*]")
            reader.pos = match.end()
        else:
            break
        steps += 1
    if steps == 0:
        raise reader.fail("a selector names a property: $.name or $[0]")


# --- space-delimited ------------------------------------------------------------------------------


def _delimited_pattern(reader: _Reader) -> None:
    reader.expect("[", "'['")
    while True:
        if reader.take("..."):
            pass
        else:
            _delimited_condition(reader)
            while True:
                if reader.take("&&") or reader.take("||"):
                    _delimited_condition(reader, needs_comparison=True)
                else:
                    break
        if reader.take(","):
            continue
        reader.expect("]", "',' or ']' in the space-delimited pattern")
        return


def _delimited_condition(reader: _Reader, needs_comparison: bool = False) -> None:
    reader.skip_spaces()
    match = _FIELD_NAME.match(reader.text, reader.pos)
    if not match:
        found = reader.text[reader.pos : reader.pos + 10] or "the end"
        raise reader.fail(f"expected a field name (letters, digits, _) or '...', found {found!r}")
    reader.pos = match.end()
    reader.skip_spaces()
    if reader.pos < len(reader.text) and reader.text[reader.pos] in "=!<>":
        op = _comparison(reader)
        _value(reader, op)
    elif needs_comparison:
        raise reader.fail("after && or || comes a condition such as status = 500")
