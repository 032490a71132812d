"""Markdown helpers: escaped text, code spans, tables that survive any cell content on GitHub."""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

WARNING = "⚠️"


def text(value: Any) -> str:
    """Free text safe in a paragraph or a table cell: no HTML, emphasis or line breaks leak through."""
    s = str(value)
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([*`\[\]])", r"\\\1", s)
    # An underscore inside a word never starts emphasis on GitHub; escape only the others.
    s = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", s)
    return " ".join(s.split())


def code(value: Any) -> str:
    """A code span (literal ``<``, ``*``...); a table escapes its pipes itself."""
    s = " ".join(str(value).split())
    if not s:
        return "` `"
    fence = "`"
    while fence in s:
        fence += "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def codes(values: Iterable[Any], sep: str = ", ") -> str:
    return sep.join(code(v) for v in values) or "—"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        s = "—" if value is None or value == "" else str(value)
        return s.replace("\n", " ").replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def bullet(items: Iterable[str]) -> list[str]:
    return [f"- {item}" for item in items]


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"
