"""Section 2: with only the aiohttp extra installed, introspecting the package works."""

from __future__ import annotations

import json
import subprocess
import sys

_WITHOUT_HTTPX = """
import sys


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'httpx', 'anyio'}:
            raise ImportError(name)


sys.meta_path.insert(0, Block())
import contextlib, inspect, io, json, pydoc
import aio_request

namespace = {}
exec('from aio_request import *', namespace)
with contextlib.redirect_stdout(io.StringIO()):
    help(aio_request)
text = pydoc.render_doc(aio_request)
members = dict(inspect.getmembers(aio_request))
try:
    aio_request.HttpxTransport
except AttributeError as error:
    message = str(error)
print(json.dumps({
    "star_has_aiohttp": "AioHttpTransport" in namespace,
    "star_has_httpx": "HttpxTransport" in namespace,
    "pydoc_mentions_setup": "setup" in text,
    "members_have_aiohttp": "AioHttpTransport" in members,
    "members_have_httpx": "HttpxTransport" in members,
    "hasattr_httpx": hasattr(aio_request, "HttpxTransport"),
    "hasattr_aiohttp": hasattr(aio_request, "AioHttpTransport"),
    "in_all": "HttpxTransport" in aio_request.__all__,
    "in_dir": "HttpxTransport" in dir(aio_request),
    "message": message,
}))
"""


def test_introspection_works_without_the_httpx_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_HTTPX], capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["star_has_aiohttp"]
    assert not seen["star_has_httpx"]
    assert seen["pydoc_mentions_setup"]
    assert seen["members_have_aiohttp"]
    assert not seen["members_have_httpx"]
    assert not seen["hasattr_httpx"]
    assert seen["hasattr_aiohttp"]
    assert not seen["in_all"]
    assert not seen["in_dir"]
    assert "pip install 'aio-request-ng[httpx]'" in seen["message"]


def test_pydoc_command_line_works_without_the_httpx_extra() -> None:
    code = (
        _WITHOUT_HTTPX.split("import contextlib")[0]
        + "import pydoc, sys\nsys.argv = ['pydoc', 'aio_request']\npydoc.cli()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "aio_request" in result.stdout
    assert "Traceback" not in result.stderr
