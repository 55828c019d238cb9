"""Server middlewares that take the caller's deadline and priority from the propagation headers.

* :mod:`aio_request.server.aiohttp`: :func:`aiohttp_middleware_factory` and :func:`aiohttp_timeout`;
* :mod:`aio_request.server.asgi`: :class:`AsgiMiddleware` and :func:`asgi_timeout` (Starlette,
  FastAPI or any ASGI app).

Both parse ``X-Request-Timeout`` and ``X-Request-Priority`` with the same parser
(:mod:`aio_request.http.headers`), apply the same deadline rules and emit the same
:class:`~aio_request.events.ServerRequestFinished` event (:mod:`aio_request.server._incoming`).
The submodules import their framework, so this package imports neither.
"""
