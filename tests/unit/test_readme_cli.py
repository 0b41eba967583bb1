"""Every `vectorgate` command line in README.md runs as pasted from the repository root.

The README writes the command as ``.venv/bin/vectorgate …`` (the venv of its first command),
so a user who has not activated the venv can paste it. For each such line (in code blocks
and inline code), the subcommand's ``--help`` must parse with the installed command, and
every ``--option`` the line shows must be one that subcommand accepts.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.support import readme
from vectorgate_server.cli import main

VECTORGATE = Path(sys.executable).with_name("vectorgate")
_COMMAND = re.compile(r"(?<![\w./-])((?:\S*/)?vectorgate)[ \t]+([\w-]+)([^\n`]*)")


@cache
def _help(*args: str) -> str:
    """``vectorgate ARGS --help`` through the command's own entry point (in process: the
    executable itself is run by test_version_runs)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code == 0, out.getvalue()
    return out.getvalue()


def _subcommands() -> set[str]:
    match = re.search(r"\{([\w,-]+)\}", _help())
    assert match, _help()
    return set(match.group(1).split(","))


def _snippets() -> list[str]:
    """Code-block lines and inline code spans of the README (shell comments left out)."""
    text = readme.text()
    out: list[str] = []
    for block in readme.blocks(text):
        if block.lang in ("bash", "text", "sh", ""):
            out += [ln for ln in block.text.splitlines() if not ln.lstrip().startswith("#")]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    out += re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))
    return out


def _usage(sub: str) -> str:
    """The subcommand's help, and its own subcommands' (``keys generate``), together."""
    text = _help(sub)
    nested = re.search(r"\{([\w,-]+)\}", text)
    for name in nested.group(1).split(",") if nested else []:
        text += _help(sub, name)
    return text


def _commands() -> list[tuple[str, str, str]]:
    """(how the command is invoked, subcommand, the rest of the line) for each command line."""
    commands = _subcommands() | {"--version", "--help"}
    found = []
    for snippet in _snippets():
        for m in _COMMAND.finditer(snippet):
            if m.group(2) in commands or m.group(2).startswith("--"):
                found.append((m.group(1), m.group(2), m.group(3)))
    return found


def test_the_readme_shows_commands_of_every_kind() -> None:
    shown = {sub for _, sub, _ in _commands()}
    assert {"serve", "ingest", "search", "collections", "indexes", "keys", "copy"} <= shown


def test_every_vectorgate_command_is_runnable_as_pasted() -> None:
    assert VECTORGATE.exists(), "the dev venv has the vectorgate command (pip install -e)"
    for invoked, sub, rest in _commands():
        line = f"{invoked} {sub}{rest}"
        assert invoked == ".venv/bin/vectorgate", f"not runnable without activating: {line}"
        if sub.startswith("--"):
            assert sub in _help(), line
            continue
        assert sub in _subcommands(), line
        usage = _usage(sub)
        for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest):
            assert option in usage, f"{line}: {sub} has no option {option}"


def test_version_runs() -> None:
    proc = subprocess.run(
        [str(VECTORGATE), "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("vectorgate "), proc
