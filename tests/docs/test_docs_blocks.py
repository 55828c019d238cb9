"""Every ```python block of README.md and docs/*.md runs, each in a fresh interpreter.

Markers, written as an HTML comment on the line before a block (invisible when rendered):

* ``<!-- docs-test: fragment -->``: a piece of a larger program on purpose; it is only compiled;
* ``<!-- docs-test: continue -->``: runs after the previous blocks of the page that it continues
  (chains of ``continue`` blocks run together), as a reader following the page would.

Blocks run with ``tests/docs/run_block.py``: a loopback service answers every host name.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*docs-test:\s*(fragment|continue)\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    page: pathlib.Path
    line: int
    code: str
    marker: str | None
    previous: Block | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def program(self) -> str:
        """The code to run: the blocks this one continues, then itself."""
        chain: list[str] = [self.code]
        block = self
        while block.marker == "continue" and block.previous is not None:
            block = block.previous
            chain.append(block.code)
        return "\n".join(reversed(chain))


def _blocks() -> list[Block]:
    blocks: list[Block] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        previous: Block | None = None
        for match in _FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = _MARKER.search(before)
            block = Block(
                page=page,
                line=text.count("\n", 0, match.start()) + 2,
                code=match.group(1),
                marker=marker.group(1) if marker else None,
                previous=previous,
            )
            blocks.append(block)
            if block.marker != "fragment":
                previous = block
    return blocks


BLOCKS = _blocks()


def test_the_pages_have_python_blocks() -> None:
    assert len([block for block in BLOCKS if block.page.name == "README.md"]) >= 2
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block(block: Block) -> None:
    if block.marker == "fragment":
        ast.parse(block.code, filename=block.id)
        return
    result = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).with_name("run_block.py"))],
        input=block.program(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr[-3000:]}"
