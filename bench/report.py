"""A benchmark's printed findings, kept so that ``--write FILE`` can save them as markdown."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


class Report:
    """Prints each line and keeps it; ``write`` saves them with the machine and the command."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def run(self, main: Callable[[], int], description: str, title: str) -> int:
        """Parse ``--write FILE``, run ``main``, and save the findings there if asked."""
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--write", help="also save the findings to this markdown file")
        path = parser.parse_args().write
        status = main()
        if path:
            self.write(path, title)
        return status

    def write(self, path: str, title: str) -> None:
        from bench.train_speed import machine

        module = Path(sys.argv[0]).stem
        command = f"python -m bench.{module} --write {path}"
        body = "\n".join(self.lines)
        Path(path).write_text(
            f"# {title}\n\nMachine: {machine()}.\n\nReproduce: `{command}`\n\n```\n{body}\n```\n"
        )
