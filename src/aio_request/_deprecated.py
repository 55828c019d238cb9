"""Every name and module path of aio-request 0.2.9 that is kept only so that old code runs.

Each one still works and warns with a :class:`DeprecationWarning` naming its replacement:

* names read from the package (``aio_request.setup_v2``, ``aio_request.MetricsProvider`` ...),
  served by :func:`attribute` from ``aio_request.__getattr__``, so they appear in neither
  ``__all__`` nor ``dir(aio_request)``;
* the ``metrics_provider=`` keyword of ``setup``, ``AioHttpTransport`` and
  ``aiohttp_middleware_factory`` (:func:`warn_metrics_provider`): Prometheus metrics are
  recorded through the event hub whenever ``prometheus-client`` is installed, so the old
  provider has nothing left to do;
* the original's module paths (``aio_request.base``, ``aio_request.request_strategy`` ...):
  :class:`LegacyModuleFinder` answers them, and only them, when no real module has that name.
  Each is a small module of its own that forwards every attribute to the package, so
  ``from aio_request.base import Request`` gives ``aio_request.Request`` itself.
* the module paths this package had before it was grouped into folders (``aio_request.budget``,
  ``aio_request.headers``, ``aio_request.response`` ...; :data:`MOVED_MODULES`): the same
  finder serves them; their attributes come from the package, else from the module's new home,
  so ``from aio_request.response import BufferedResponse`` still works.

Only names are forwarded: patching an attribute of a legacy module (``unittest.mock.patch``)
changes that module alone, not the code of the package.
"""

from __future__ import annotations

import collections.abc
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import yarl

from aio_request._core.deprecation import MetricsProvider, warn_deprecated
from aio_request._version import __version__
from aio_request.http.deadline import Deadline
from aio_request.http.request import Request
from aio_request.http.url import PathParameters, QueryParameters, encode_path_parameter, query_text

if TYPE_CHECKING:
    from aio_request.client.client import Client


class NoopMetricsProvider(MetricsProvider):
    """Deprecated: pass ``event_hub=aio_request.events.EventHub()`` to ``setup`` to record nothing."""

    __slots__ = ()


NOOP_METRICS_PROVIDER: Final = NoopMetricsProvider()
"""Deprecated: the provider instance 0.2.9 exported; it has no effect."""

RequestEnricher: TypeAlias = Callable[[Request], Request]
"""Deprecated: a sync ``request_enricher`` of ``setup`` (which takes sync and async ones)."""

AsyncRequestEnricher: TypeAlias = Callable[[Request], Awaitable[Request]]
"""Deprecated: an async ``request_enricher`` of ``setup`` (which takes sync and async ones)."""

DeprecatedAsyncRequestEnricher: TypeAlias = Callable[[Request, bool], Awaitable[Request]]
"""Deprecated: the two-argument enricher of ``setup_v2``."""

DeadlineProvider: TypeAlias = Callable[[Deadline, int, int], Deadline]
"""Deprecated: ``(deadline, attempt, attempts_count) -> deadline``, a strategy's ``deadline_provider``."""


def setup_v2(*, request_enricher: DeprecatedAsyncRequestEnricher | None = None, **kwargs: Any) -> Client:
    """Deprecated: :func:`aio_request.setup`, with a two-argument async enricher."""
    from aio_request.client.setup import setup  # setup imports this module: resolved at call time

    if request_enricher is None:
        return setup(**kwargs)
    enricher = request_enricher

    async def enrich(request: Request) -> Request:
        return await enricher(request, False)

    return setup(request_enricher=enrich, **kwargs)


def build_query_parameters(query_parameters: QueryParameters) -> dict[str, str | list[str]]:
    """Deprecated: query parameters as 0.2.9 grouped them (a value, or a list for an iterable)."""
    items = query_parameters.items() if isinstance(query_parameters, Mapping) else query_parameters
    grouped: dict[str, str | list[str]] = {}
    for name, value in items:
        if value is None:
            continue
        texts: str | list[str]
        if isinstance(value, collections.abc.Iterable) and not isinstance(value, str | bytes | bytearray):
            texts = [query_text(name, item) for item in value if item is not None]
            if not texts:
                continue
        else:
            texts = query_text(name, value)
        previous = grouped.get(name)
        if previous is None:
            grouped[name] = texts
        else:
            head = [previous] if isinstance(previous, str) else previous
            grouped[name] = [*head, *([texts] if isinstance(texts, str) else texts)]
    return grouped


def substitute_path_parameters(url: yarl.URL, parameters: PathParameters | None = None) -> yarl.URL:
    """Deprecated: fill ``{name}`` placeholders of ``url``, each value as one encoded segment."""
    if not parameters:
        return url
    path = url.raw_path
    for name, value in parameters.items():
        path = path.replace(f"%7B{name}%7D", encode_path_parameter(name, value))
    return yarl.URL.build(
        scheme=url.scheme,
        authority=url.raw_authority,
        path=path,
        query_string=url.raw_query_string,
        fragment=url.raw_fragment,
        encoded=True,
    )


def _prometheus_provider() -> NoopMetricsProvider:
    importlib.import_module("prometheus_client")  # 0.2.9 had this name only with the extra
    return NOOP_METRICS_PROVIDER


def _prometheus_provider_class() -> type[NoopMetricsProvider]:
    importlib.import_module("prometheus_client")
    return NoopMetricsProvider


_VERSION: Final = f"{__version__}, Python {sys.version}"

# name -> (what to use instead, how to get the value, the extra needed if any)
_NAMES: Final[Mapping[str, tuple[str, Callable[[], object], str | None]]] = {
    "setup_v2": ("use aio_request.setup", lambda: setup_v2, None),
    "MetricsProvider": ("pass event_hub= to setup", lambda: MetricsProvider, None),
    "NoopMetricsProvider": ("pass event_hub=EventHub() to setup", lambda: NoopMetricsProvider, None),
    "NOOP_METRICS_PROVIDER": ("pass event_hub=EventHub() to setup", lambda: NOOP_METRICS_PROVIDER, None),
    "PrometheusMetricsProvider": (
        "Prometheus metrics are on when prometheus-client is installed",
        _prometheus_provider_class,
        "prometheus",
    ),
    "PROMETHEUS_METRICS_PROVIDER": (
        "Prometheus metrics are on when prometheus-client is installed",
        _prometheus_provider,
        "prometheus",
    ),
    "RequestEnricher": ("annotate with Callable[[Request], Request]", lambda: RequestEnricher, None),
    "AsyncRequestEnricher": (
        "annotate with Callable[[Request], Awaitable[Request]]",
        lambda: AsyncRequestEnricher,
        None,
    ),
    "DeprecatedAsyncRequestEnricher": (
        "use a one-argument enricher with aio_request.setup",
        lambda: DeprecatedAsyncRequestEnricher,
        None,
    ),
    "DeadlineProvider": (
        "annotate with Callable[[Deadline, int, int], Deadline]",
        lambda: DeadlineProvider,
        None,
    ),
    "version": ("use aio_request.__version__ (and sys.version)", lambda: _VERSION, None),
    "build_query_parameters": (
        "pass query_parameters= to the request builders",
        lambda: build_query_parameters,
        None,
    ),
    "substitute_path_parameters": (
        "pass path_parameters= to the request builders",
        lambda: substitute_path_parameters,
        None,
    ),
}


def attribute(name: str) -> Any:
    """The deprecated package attribute ``name`` (warning), else ``AttributeError``."""
    entry = _NAMES.get(name)
    if entry is None:
        raise AttributeError(f"module 'aio_request' has no attribute {name!r}")
    replacement, value_of, extra = entry
    try:
        value = value_of()
    except ImportError as error:
        raise AttributeError(
            f"aio_request.{name} needs the {extra!r} extra: pip install 'aio-request-ng[{extra}]'"
        ) from error
    warn_deprecated(f"aio_request.{name}", replacement)
    return value


LEGACY_MODULES: Final = frozenset(
    {
        "aio_request.aiohttp",
        "aio_request.base",
        "aio_request.circuit_breaker",
        "aio_request.client",
        "aio_request.context",
        "aio_request.deadline",
        "aio_request.deadline_provider",
        "aio_request.delays_provider",
        "aio_request.deprecated",
        "aio_request.endpoint_provider",
        "aio_request.httpx",
        "aio_request.percentile_based_request_attempt_delays_provider",
        "aio_request.pipeline",
        "aio_request.priority",
        "aio_request.request",
        "aio_request.request_attempt_delays_provider",
        "aio_request.request_response_observer",
        "aio_request.request_strategy",
        "aio_request.response_classifier",
        "aio_request.setup",
        "aio_request.transport",
    }
)
"""The module paths of aio-request 0.2.9; those that no longer exist are served as legacy modules."""

MOVED_MODULES: Final[Mapping[str, str]] = {
    "aio_request.budget": "aio_request.policies.budget",
    "aio_request.classify": "aio_request.policies.classify",
    "aio_request.context": "aio_request.http.context",
    "aio_request.deadline": "aio_request.http.deadline",
    "aio_request.deadlines": "aio_request.policies.deadline_split",
    "aio_request.delays": "aio_request.policies.delays",
    "aio_request.endpoint": "aio_request.client.endpoint",
    "aio_request.headers": "aio_request.http.headers",
    "aio_request.observer": "aio_request.policies.observer",
    "aio_request.percentile_delays": "aio_request.policies.percentile_delays",
    "aio_request.priority": "aio_request.http.priority",
    "aio_request.request": "aio_request.http.request",
    "aio_request.request_builders": "aio_request.http.builders",
    "aio_request.response": "aio_request.http.response",
    "aio_request.retry_after": "aio_request.policies.retry_after",
    "aio_request.setup": "aio_request.client.setup",
    "aio_request.transport": "aio_request.http.transport",
    "aio_request.url": "aio_request.http.url",
}
"""Module paths of this package before its modules were grouped into folders → their new home."""


class _LegacyModule(types.ModuleType):
    """A 0.2.9 module path: every attribute is the package's (public or deprecated) one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        package = sys.modules["aio_request"]
        try:
            return getattr(package, name)
        except AttributeError:
            pass
        home = MOVED_MODULES.get(self.__name__)
        if home is not None:
            try:
                return getattr(importlib.import_module(home), name)
            except AttributeError:
                pass
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        home = MOVED_MODULES.get(self.__name__)
        moved = dir(importlib.import_module(home)) if home is not None else []
        return sorted({*super().__dir__(), *dir(sys.modules["aio_request"]), *moved})


class LegacyModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds 0.2.9's module paths that no real module answers (it runs after the path finder)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for a legacy module path, else ``None``."""
        if fullname not in LEGACY_MODULES and fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        """A fresh forwarding module named after the old path."""
        return _LegacyModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """Warn that the module path is deprecated (its names come from the package)."""
        home = MOVED_MODULES.get(module.__name__)
        if home is None:
            module.__doc__ = "Deprecated module path of aio-request 0.2.9: use the names of aio_request."
            warn_deprecated(f"importing {module.__name__}", "import the same names from aio_request")
        else:
            module.__doc__ = f"Deprecated module path: the module is now {home}."
            warn_deprecated(f"importing {module.__name__}", f"import from aio_request or {home}")


class _Package(types.ModuleType):
    """The package's module type: an imported legacy module never replaces a package attribute.

    The import system sets every imported submodule as an attribute of its package; 0.2.9 had
    modules named like functions of the package (``aio_request.setup``, ``aio_request.request``),
    so ``import aio_request.setup`` must not turn ``aio_request.setup`` into a module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _LegacyModule) and name in self.__dict__:
            return
        super().__setattr__(name, value)


def install_legacy_module_finder(package: types.ModuleType) -> None:
    """Append the finder to ``sys.meta_path`` once, behind the finders of real modules."""
    package.__class__ = _Package
    if not any(isinstance(finder, LegacyModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(LegacyModuleFinder())
