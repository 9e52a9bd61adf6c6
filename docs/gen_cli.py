"""Writes docs/cli.md, the command-line reference, from syncer's own `--help`.

    python docs/gen_cli.py           # rewrite docs/cli.md
    python docs/gen_cli.py --check   # exit 1 if docs/cli.md differs from --help (CI runs it
                                     # through tests/test_docs.py)

Every command's help is rendered by click at 80 columns, so the reference is what a user
sees in a terminal, and it cannot drift from the code.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from syncer.cli import main as cli

TARGET = Path(__file__).resolve().parent / "cli.md"
WIDTH = 80
HEADER = """# Command-line reference

Generated from `syncer --help` by `python docs/gen_cli.py`; a test fails when it differs
from the code. Start with the [README](../README.md); the reports are explained in
[reports.md](reports.md), the config file in [configuration.md](configuration.md).
"""


def commands(
    command: click.Command, path: tuple[str, ...], parent: click.Context | None
) -> Iterator[tuple[tuple[str, ...], click.Context]]:
    """Every command under `command`, depth first, with a context to render its help."""
    # click fills a terminal of N columns to N - 2; this is what an 80-column one shows
    settings = {**command.context_settings, "terminal_width": WIDTH - 2}
    context = click.Context(command, info_name=path[-1], parent=parent, **settings)
    yield path, context
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from commands(sub, (*path, name), context)


def render() -> str:
    """The whole reference, as Markdown."""
    parts = [HEADER]
    for path, context in commands(cli, ("syncer",), None):
        help_text = context.command.get_help(context).rstrip()
        parts.append(f"## `{' '.join(path)}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), text.splitlines(), "docs/cli.md", "--help", lineterm=""
        )
        print("\n".join(diff))
        print("docs/cli.md is out of date: run python docs/gen_cli.py", file=sys.stderr)
        return 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
