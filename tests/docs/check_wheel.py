"""Check an installed wheel the way a new user meets it (``make wheel-check`` runs this).

Run with the interpreter of a fresh virtualenv holding only the built wheel and its ``aiohttp``
extra: every Python block of README.md must run there (through ``run_block.py``, with its
loopback service), and ``from aio_request import *``, ``help()``, ``inspect.getmembers`` and
``hasattr`` must work although ``httpx`` is not installed.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

_INTROSPECTION = """
import contextlib, inspect, io, warnings
warnings.simplefilter("error")
namespace = {}
exec("from aio_request import *", namespace)
import aio_request
with contextlib.redirect_stdout(io.StringIO()):
    help(aio_request)
inspect.getmembers(aio_request)
assert "AioHttpTransport" in namespace and "HttpxTransport" not in namespace
assert not hasattr(aio_request, "HttpxTransport")
print("introspection without httpx: ok")
"""


def main() -> int:
    failures = 0
    if subprocess.run([sys.executable, "-c", "import httpx"], capture_output=True).returncode == 0:
        print("httpx is installed: this check needs a virtualenv without it", file=sys.stderr)
        return 2
    blocks = _FENCE.findall(README.read_text(encoding="utf-8"))
    programs = [*blocks, _INTROSPECTION]
    for index, program in enumerate(programs, 1):
        result = subprocess.run(
            [sys.executable, str(HERE / "run_block.py")], input=program, capture_output=True, text=True
        )
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"block {index}/{len(programs)}: {status}")
        if result.returncode != 0:
            failures += 1
            print(result.stderr, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
