"""Route templates of Starlette-style routers, for telemetry labels (duck-typed, no import).

Starlette's router stores the matched route in ``scope["route"]``; inside a ``Mount`` that is the
inner route, whose ``path`` lacks the mount's prefix. :func:`route_template` adds the prefixes by
finding the route in the tree under ``scope["router"]`` (the outermost router), once per route.
:func:`matched_route_template` asks the routes themselves (``route.matches``) for requests the
middleware answers before the app routes them (a spent deadline). Anything unexpected yields
``None`` and the caller records the "unmatched" label: a label is never worth an error.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Final

_MAX_DEPTH: Final = 16
_MAX_CACHED: Final = 4096
# id(route) -> (route, full template); the route is kept so its id cannot be reused meanwhile.
_templates: dict[int, tuple[object, str]] = {}


def _path_of(route: object) -> str:
    path = getattr(route, "path", "")
    return path if isinstance(path, str) else ""


def _sub_routes(route: object) -> list[Any]:
    routes = getattr(route, "routes", None)
    return routes if isinstance(routes, list) else []


def _find(routes: list[Any], target: object, prefix: str, depth: int) -> str | None:
    for route in routes:
        if route is target:
            return prefix + _path_of(route)
        sub = _sub_routes(route)
        if sub and depth < _MAX_DEPTH:
            found = _find(sub, target, prefix + _path_of(route), depth + 1)
            if found is not None:
                return found
    return None


def route_template(scope: Mapping[str, Any], entry_root_path: str) -> str | None:
    """The full template of ``scope["route"]`` after the app ran, or ``None`` if there is none.

    ``entry_root_path`` is the ``root_path`` the middleware saw: when the app did not change it,
    no ``Mount`` was crossed and ``route.path`` is already the whole template.
    """
    route = scope.get("route")
    if route is None:
        return None
    path = _path_of(route)
    if scope.get("root_path", "") == entry_root_path:
        return path or None
    cached = _templates.get(id(route))
    if cached is not None and cached[0] is route:
        return cached[1]
    try:
        found = _find(_sub_routes(scope.get("router")), route, "", 0)
    except Exception:
        found = None
    if found is None:
        return path or None
    if len(_templates) < _MAX_CACHED:
        _templates[id(route)] = (route, found)
    return found


def _match(routes: list[Any], scope: MutableMapping[str, Any], prefix: str, depth: int) -> str | None:
    partial: str | None = None
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, child_scope = matches(scope)
        kind = getattr(match, "name", "")
        if kind == "FULL":
            template = prefix + _path_of(route)
            sub = _sub_routes(route)
            if sub and depth < _MAX_DEPTH:
                inner = _match(sub, {**scope, **child_scope}, template, depth + 1)
                if inner is not None:
                    return inner
            return template
        if kind == "PARTIAL" and partial is None:
            partial = prefix + _path_of(route)
    return partial


def matched_route_template(scope: Mapping[str, Any], app: object) -> str | None:
    """The template of the route the app would pick for ``scope``, or ``None``.

    Starlette sets ``scope["app"]`` before its middleware stack runs; a middleware wrapped
    around the app from outside uses the app it wraps.
    """
    owner = scope.get("app", app)
    try:
        return _match(_sub_routes(owner), dict(scope), "", 0)
    except Exception:
        return None
