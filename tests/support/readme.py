"""Code blocks of README.md, for the tests that run what the README tells a user to run."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(name: str) -> str:
    """The fenced code block that follows ``<!-- readme-test: NAME -->`` in README.md."""
    text = README.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- readme-test: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", text, re.DOTALL
    )
    if match is None:
        raise LookupError(f"README.md has no block marked readme-test: {name}")
    return match.group(1)
