"""A loopback HTTP/1.1 server that misbehaves on purpose, for transport tests.

It is a raw :func:`asyncio.start_server` on 127.0.0.1 (port 0), so it can do what a real HTTP
server never would. What it does depends on the request path:

==================  ==========================================================================
``/ok``             200 ``{"ok": true}`` (JSON), keep-alive
``/echo``           200 with the request body as the response body, keep-alive
``/redirect/{n}``   302 to ``/redirect/{n-1}``; ``/redirect/0`` answers like ``/ok``
``/loop/{n}``       302 to ``/loop/{n+1}``, forever
``/reset``          reads the request, then resets the connection (``SO_LINGER`` 0)
``/hang``           reads the request and never answers
``/stall-body``     sends headers announcing 100 bytes, 10 bytes, then nothing more
``/trickle``        sends headers announcing 100 bytes, then one byte every 0.25 s
``/trickle-head``   sends the status line and headers one byte every 0.25 s
``/truncated``      sends headers announcing 100 bytes, 10 bytes, then closes
``/invalid``        answers a line that is not HTTP, then closes
``/bad-chunked``    answers ``Transfer-Encoding: chunked`` with a chunk size that is not hex
``/status/{code}``  answers ``code`` with an empty body; ``?retry-after=V`` adds ``Retry-After: V``
``/first/{f}/{key}`` the first request for ``key`` does what ``/{f}`` does (``hang``,
                    ``stall-body``, ...); every later one for the same key answers like ``/ok``
``/location?to=L``  302 with ``Location: L`` sent as it is (``&status=S`` answers ``S``
                    instead, ``&delay=D`` waits ``D`` seconds first, ``&body=N`` sends
                    ``N`` bytes of body)
``/big/{n}``        200 with ``n`` bytes announced by ``Content-Length`` (only announced to HEAD)
``/big-chunked/{n}`` 200 with ``n`` bytes in 64 KiB chunks, no ``Content-Length``
``/gzip/{n}``       200 with a gzip body (``Content-Encoding: gzip``) that inflates to ``n``
                    zero bytes
``/bad-gzip``       200 with ``Content-Encoding: gzip`` and a body that is not gzip after 20 bytes
``/delay/{ms}``     waits ``ms`` milliseconds, then answers like ``/ok``
==================  ==========================================================================

:attr:`FaultServer.refused_url` points at a port that is bound but not listening, so connecting
to it is refused. :attr:`FaultServer.backlog_url` points at a port that listens with a backlog
of 0 already filled by connections nobody accepts, so a new connection is never established
(the kernel drops its SYN). Every request received is recorded in :attr:`FaultServer.requests`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import socket
import struct
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import yarl
from multidict import CIMultiDict

TRICKLE_INTERVAL = 0.25
"""Seconds between two bytes of ``/trickle`` and ``/trickle-head``."""

_BACKLOG_FILLERS = 3
"""Connections opened to the backlog socket: one fills a backlog of 0, the rest are margin."""


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """A request as the server read it off the wire."""

    method: str
    target: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.partition("?")[0]


class _Close(Exception):
    """Raised by a route to end the connection after it has done its worst."""


class FaultServer:
    """The server; use it as ``async with FaultServer() as server``."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._refused_socket: socket.socket | None = None
        self._backlog_sockets: list[socket.socket] = []
        self._first_keys: set[str] = set()
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.requests: list[ReceivedRequest] = []
        self.connections_accepted = 0
        self.open_connections = 0

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        refused.bind(("127.0.0.1", 0))
        self._refused_socket = refused
        self._backlog_sockets = _filled_backlog()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        # Aborting the connections ends every handler; cancelling them instead would make
        # asyncio (3.11) report the cancelled handler tasks to the loop's exception handler.
        for writer in self._handlers.values():
            writer.transport.abort()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5.0)
        await self._server.wait_closed()
        if self._refused_socket is not None:
            self._refused_socket.close()
        for sock in self._backlog_sockets:
            sock.close()
        self._backlog_sockets = []

    @property
    def url(self) -> yarl.URL:
        """``http://127.0.0.1:<port>/``."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return yarl.URL(f"http://127.0.0.1:{port}/")

    @property
    def refused_url(self) -> yarl.URL:
        """A URL whose port is bound but not listening: connections are refused."""
        assert self._refused_socket is not None
        port = self._refused_socket.getsockname()[1]
        return yarl.URL(f"http://127.0.0.1:{port}/")

    @property
    def backlog_url(self) -> yarl.URL:
        """A URL whose listener's backlog is full: connecting to it never completes."""
        port = self._backlog_sockets[0].getsockname()[1]
        return yarl.URL(f"http://127.0.0.1:{port}/")

    def paths(self) -> list[str]:
        """The paths of the requests received, in order."""
        return [request.path for request in self.requests]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
        give_up = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > give_up:
                raise AssertionError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        self.connections_accepted += 1
        self.open_connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                await self._answer(request, reader, writer)
        except (_Close, ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self.open_connections -= 1
            self._handlers.pop(task, None)
            if not writer.transport.is_closing():
                writer.close()

    async def _answer(
        self, request: ReceivedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        segments = request.path.strip("/").split("/")
        if segments[0] == "first" and len(segments) == 3:
            # The first request for a key misbehaves as /{fault}; the others are answered.
            fault, key = segments[1], segments[2]
            segments = [fault] if key not in self._first_keys else ["ok"]
            self._first_keys.add(key)
        route = segments[0]
        if route == "ok" or (route == "redirect" and segments[1] == "0"):
            await _respond(writer, 200, json.dumps({"ok": True}).encode(), "application/json")
        elif route == "echo":
            await _respond(writer, 200, request.body, "application/octet-stream")
        elif route == "redirect":
            await _redirect(writer, f"/redirect/{int(segments[1]) - 1}")
        elif route == "loop":
            await _redirect(writer, f"/loop/{int(segments[1]) + 1}")
        elif route == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            raise _Close
        elif route == "hang":
            await reader.read()  # until the client goes away
            raise _Close
        elif route == "stall-body":
            writer.write(_head(200, 100) + b"x" * 10)
            await writer.drain()
            await reader.read()
            raise _Close
        elif route == "trickle":
            writer.write(_head(200, 100))
            for _ in range(100):
                await writer.drain()
                await asyncio.sleep(TRICKLE_INTERVAL)
                if writer.transport.is_closing():
                    raise _Close
                writer.write(b"x")
            await writer.drain()
        elif route == "trickle-head":
            for byte in _head(200, 2, "application/json") + b"{}":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(TRICKLE_INTERVAL)
                if writer.transport.is_closing():
                    raise _Close
        elif route == "truncated":
            writer.write(_head(200, 100) + b"x" * 10)
            await writer.drain()
            raise _Close
        elif route == "invalid":
            writer.write(b"THIS IS NOT HTTP\r\n\r\n")
            await writer.drain()
            raise _Close
        elif route == "bad-chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\nhello\r\n0\r\n\r\n"
            )
            await writer.drain()
            raise _Close
        elif route == "location":
            query = parse_qs(request.target.partition("?")[2], keep_blank_values=True)
            delay = float(query.get("delay", ["0"])[0])
            if delay:
                await asyncio.sleep(delay)
            status = int(query.get("status", ["302"])[0])
            size = int(query.get("body", ["0"])[0])
            writer.write(_head(status, size, extra=f"Location: {query['to'][0]}\r\n"))
            await _write_zeros(writer, size)
        elif route == "big":
            size = int(segments[1])
            writer.write(_head(200, size))
            if request.method != "HEAD":
                await _write_zeros(writer, size)
        elif route == "big-chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            left = int(segments[1])
            while left > 0:
                size = min(left, _CHUNK)
                writer.write(f"{size:x}\r\n".encode() + bytes(size) + b"\r\n")
                await writer.drain()
                left -= size
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif route == "bad-gzip":
            body = _gzipped_zeros(1000)[:20] + b"not gzip at all" * 10
            writer.write(_head(200, len(body), extra="Content-Encoding: gzip\r\n") + body)
            await writer.drain()
        elif route == "gzip":
            body = _gzipped_zeros(int(segments[1]))
            writer.write(_head(200, len(body), extra="Content-Encoding: gzip\r\n") + body)
            await writer.drain()
        elif route == "delay":
            await asyncio.sleep(int(segments[1]) / 1000)
            await _respond(writer, 200, json.dumps({"ok": True}).encode(), "application/json")
        elif route == "status":
            retry_after = parse_qs(request.target.partition("?")[2]).get("retry-after")
            extra = f"Retry-After: {retry_after[0]}\r\n" if retry_after else ""
            writer.write(_head(int(segments[1]), 0, extra=extra))
            await writer.drain()
        else:
            await _respond(writer, 404, b"", "text/plain")


_CHUNK = 64 * 1024
_GZIPPED: dict[int, bytes] = {}


def _gzipped_zeros(size: int) -> bytes:
    if size not in _GZIPPED:
        _GZIPPED[size] = gzip.compress(bytes(size), compresslevel=9)
    return _GZIPPED[size]


async def _write_zeros(writer: asyncio.StreamWriter, size: int) -> None:
    chunk = bytes(_CHUNK)
    while size > 0:
        writer.write(chunk[: min(size, _CHUNK)])
        await writer.drain()
        size -= _CHUNK


def _head(status: int, content_length: int, content_type: str = "text/plain", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {content_length}\r\n{extra}\r\n"
    ).encode()


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str) -> None:
    writer.write(_head(status, len(body), content_type) + body)
    await writer.drain()


async def _redirect(writer: asyncio.StreamWriter, location: str) -> None:
    writer.write(_head(302, 0, extra=f"Location: {location}\r\n"))
    await writer.drain()


def _filled_backlog() -> list[socket.socket]:
    """A listener with a backlog of 0 and the connections that fill it (listener first)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    sockets = [listener]
    for _ in range(_BACKLOG_FILLERS):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        # Non-blocking: the first completes into the backlog, the others' SYNs are dropped.
        filler.connect_ex(listener.getsockname())
        sockets.append(filler)
    return sockets


async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip(" \t"))  # optional whitespace is SP and HTAB only
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return ReceivedRequest(method=method, target=target, headers=headers, body=body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer section
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
