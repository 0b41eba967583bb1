"""What README.md tells a user to run, read from README.md itself.

Conventions of the README's runnable examples (stated in README.md, "Conventions of the
examples"):

* A fenced ```` ```bash ```` block is run as shown (in one bash session per section, so a
  variable set by one block is seen by the next).
* A ```` ```json ```` or ```` ```text ```` block right after it is the output it prints.
* In an output block, ``<...>`` (angle brackets around any words) stands for a value that is
  different on every run (a generated key, a timestamp, a latency). In JSON, a string
  ``"<N numbers>"`` stands for a list of N numbers (an embedding).
* A number with a fractional part (a score) matches within ``SCORE_TOLERANCE``.

Tests substitute only the ports (``4000``, ``50051``, ``19530`` become free ones) and the
venv's location; everything else runs as written.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"

#: Scores are shown to three decimals; the local model's int8 arithmetic may differ slightly
#: between CPUs.
SCORE_TOLERANCE = 0.002

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = re.compile(r"<[^<>\n]+>")
_NUMBERS = re.compile(r"^<(\d+) numbers>$")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    #: The output block that follows this one directly (blank lines between only), if any.
    output: Block | None = None


def text() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str, source: str | None = None) -> str:
    """The body of the heading ``title`` (any level) up to the next heading of its level.

    Lines inside fenced blocks (a ``# comment`` in a script) are not headings.
    """
    source = text() if source is None else source
    lines = source.splitlines(keepends=True)
    fenced = False
    start: int | None = None
    level = 0
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = None if fenced else re.match(r"(#+) (.*?)\s*$", line)
        if heading is None:
            continue
        if start is None and heading.group(2) == title:
            start, level = i + 1, len(heading.group(1))
        elif start is not None and len(heading.group(1)) <= level:
            return "".join(lines[start:i])
    if start is None:
        raise LookupError(f"README.md has no heading {title!r}")
    return "".join(lines[start:])


def blocks(source: str) -> list[Block]:
    """The fenced blocks of ``source`` in order; output blocks attached to their command."""
    found: list[tuple[str, str, int, int]] = [
        (m.group(1), m.group(2), m.start(), m.end()) for m in _FENCE.finditer(source)
    ]
    result: list[Block] = []
    i = 0
    while i < len(found):
        lang, body, _, end = found[i]
        output = None
        if lang == "bash" and i + 1 < len(found):
            next_lang, next_body, next_start, _ = found[i + 1]
            if next_lang in ("json", "text") and not source[end:next_start].strip():
                output = Block(next_lang, next_body)
                i += 1
        result.append(Block(lang, body, output))
        i += 1
    return result


def bash_blocks(source: str) -> list[Block]:
    return [b for b in blocks(source) if b.lang == "bash"]


# --------------------------------------------------------------------------- comparison


def _number_matches(expected: float, actual: Any) -> bool:
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    if float(expected).is_integer() and isinstance(expected, int):
        return bool(actual == expected)
    return math.isclose(float(actual), float(expected), abs_tol=SCORE_TOLERANCE)


def json_mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the documented ``expected`` (empty: it matches)."""
    if isinstance(expected, str):
        numbers = _NUMBERS.match(expected)
        if numbers:
            ok = (
                isinstance(actual, list)
                and len(actual) == int(numbers.group(1))
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in actual)
            )
            return [] if ok else [f"{path}: expected {expected}, got {_short(actual)}"]
        if _PLACEHOLDER.fullmatch(expected):
            return []
        if isinstance(actual, str) and _text_line_matches(expected, actual):
            return []
        return [f"{path}: expected {expected!r}, got {_short(actual)}"]
    if isinstance(expected, bool) or expected is None:
        return [] if actual is expected else [f"{path}: expected {expected}, got {actual!r}"]
    if isinstance(expected, int | float):
        if _number_matches(expected, actual):
            return []
        return [f"{path}: expected {expected}, got {actual!r}"]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {_short(actual)}"]
        out: list[str] = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += json_mismatches(e, a, f"{path}[{i}]")
        return out
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {_short(actual)}"]
        out = []
        if set(expected) != set(actual):
            out.append(
                f"{path}: keys differ: missing {sorted(set(expected) - set(actual))}, "
                f"unexpected {sorted(set(actual) - set(expected))}"
            )
        for key in expected:
            if key in actual:
                out += json_mismatches(expected[key], actual[key], f"{path}.{key}")
        return out
    raise TypeError(f"unexpected JSON value {expected!r}")


def _short(value: Any) -> str:
    shown = json.dumps(value)
    return shown if len(shown) < 200 else shown[:200] + "…"


def _line_pattern(expected: str) -> re.Pattern[str]:
    """A documented output line as a regex: placeholders match anything, decimals nearby."""
    parts: list[str] = []
    pos = 0
    token = re.compile(r"<[^<>\n]+>|-?\d+\.\d+")
    for m in token.finditer(expected):
        parts.append(re.escape(expected[pos : m.start()]))
        parts.append(".+?" if m.group().startswith("<") else r"(-?\d+\.\d+)")
        pos = m.end()
    parts.append(re.escape(expected[pos:]))
    return re.compile("".join(parts) + r"\s*", re.DOTALL)


def _text_line_matches(expected: str, actual: str) -> bool:
    match = _line_pattern(expected).fullmatch(actual)
    if match is None:
        return False
    wanted = re.findall(r"<[^<>\n]+>|-?\d+\.\d+", expected)
    decimals = [w for w in wanted if not w.startswith("<")]
    return all(
        math.isclose(float(got), float(want), abs_tol=SCORE_TOLERANCE)
        for got, want in zip(match.groups(), decimals, strict=True)
    )


def text_mismatches(expected: str, actual: str) -> list[str]:
    """Line-by-line comparison of a documented text output with what was printed."""
    want = expected.rstrip("\n").splitlines()
    got = actual.rstrip("\n").splitlines()
    if len(want) != len(got):
        return [f"expected {len(want)} lines, got {len(got)}:\n{actual}"]
    return [
        f"line {i + 1}: expected {w!r}, got {g!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=True))
        if not _text_line_matches(w, g)
    ]


def output_mismatches(block: Block, actual: str) -> list[str]:
    """``actual`` against the block's documented output (JSON or text)."""
    assert block.output is not None
    if block.output.lang == "json":
        try:
            got = json.loads(actual)
        except json.JSONDecodeError:
            return [f"not JSON: {actual!r}"]
        return json_mismatches(json.loads(block.output.text), got)
    return text_mismatches(block.output.text, actual)


def readme_block(name: str) -> str:
    """The fenced code block that follows ``<!-- readme-test: NAME -->`` in README.md."""
    match = re.search(
        rf"<!-- readme-test: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", text(), re.DOTALL
    )
    if match is None:
        raise LookupError(f"README.md has no block marked readme-test: {name}")
    return match.group(1)
