"""Section 3: names and module paths that 0.2.9 exported still work, each with a DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import uuid
import warnings

import pytest
import yarl

import aio_request
from aio_request.testing import FakeTransport


@pytest.mark.parametrize(
    ("name", "replacement"),
    [
        ("setup_v2", "aio_request.setup"),
        ("MetricsProvider", "event_hub"),
        ("NoopMetricsProvider", "EventHub()"),
        ("NOOP_METRICS_PROVIDER", "EventHub()"),
        ("PrometheusMetricsProvider", "prometheus-client"),
        ("PROMETHEUS_METRICS_PROVIDER", "prometheus-client"),
        ("RequestEnricher", "Callable[[Request], Request]"),
        ("AsyncRequestEnricher", "Awaitable[Request]"),
        ("DeprecatedAsyncRequestEnricher", "aio_request.setup"),
        ("DeadlineProvider", "Callable[[Deadline, int, int], Deadline]"),
        ("version", "aio_request.__version__"),
    ],
)
def test_each_deprecated_name_warns_naming_its_replacement(name: str, replacement: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"aio_request\.{name} is deprecated: .*") as caught:
        value = getattr(aio_request, name)
    assert value is not None
    assert replacement in str(caught[0].message)
    assert caught[0].filename == __file__, "the warning points at the caller's line"


def test_deprecated_names_stay_out_of_all_and_dir() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        visible = set(dir(aio_request)) | set(aio_request.__all__)
    assert not visible & {"setup_v2", "MetricsProvider", "version", "build_query_parameters"}


def test_the_version_string_names_the_package_and_python_versions() -> None:
    with pytest.warns(DeprecationWarning, match="version"):
        version = aio_request.version
    assert version.startswith(f"{aio_request.__version__}, Python {sys.version_info.major}.")


async def test_setup_v2_builds_a_client_and_calls_the_two_argument_enricher() -> None:
    seen: list[bool] = []

    async def enricher(request: aio_request.Request, is_retry: bool) -> aio_request.Request:
        seen.append(is_retry)
        return request.update_headers({"X-Enriched": "1"})

    transport = FakeTransport(lambda url, request: aio_request.EmptyResponse(status=200))
    with pytest.warns(DeprecationWarning, match="setup_v2"):
        setup_v2 = aio_request.setup_v2
    client = setup_v2(transport=transport, endpoint="http://service.test/", request_enricher=enricher)
    async with client.request(aio_request.get("x")) as response:
        assert response.status == 200
    assert seen == [False]
    assert transport.requests[0].request.headers["X-Enriched"] == "1"


def test_metrics_provider_of_setup_is_accepted_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="PROMETHEUS_METRICS_PROVIDER"):
        provider = aio_request.PROMETHEUS_METRICS_PROVIDER
    with pytest.warns(DeprecationWarning, match=r"metrics_provider argument of setup\(\).*prometheus"):
        client = aio_request.setup(
            transport=FakeTransport(), endpoint="http://service.test/", metrics_provider=provider
        )
    assert isinstance(client, aio_request.Client)


async def test_metrics_provider_of_the_aiohttp_transport_and_middleware_is_accepted() -> None:
    import aiohttp

    with pytest.warns(DeprecationWarning, match="NOOP_METRICS_PROVIDER"):
        provider = aio_request.NOOP_METRICS_PROVIDER
    async with aiohttp.ClientSession() as session:
        with pytest.warns(DeprecationWarning, match=r"AioHttpTransport\(\)"):
            aio_request.AioHttpTransport(session, metrics_provider=provider)
    with pytest.warns(DeprecationWarning, match=r"aiohttp_middleware_factory\(\)"):
        aio_request.aiohttp_middleware_factory(metrics_provider=provider)


def test_no_metrics_provider_means_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aio_request.setup(transport=FakeTransport(), endpoint="http://service.test/")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("aio_request.base", "Request"),
        ("aio_request.base", "UnexpectedContentTypeError"),
        ("aio_request.aiohttp", "AioHttpTransport"),
        ("aio_request.aiohttp", "aiohttp_middleware_factory"),
        ("aio_request.httpx", "HttpxTransport"),
        ("aio_request.request_strategy", "parallel_strategy"),
        ("aio_request.deadline_provider", "split_deadline_between_attempts"),
        ("aio_request.delays_provider", "linear_backoff_delays"),
        ("aio_request.endpoint_provider", "StaticEndpointProvider"),
        ("aio_request.response_classifier", "DefaultResponseClassifier"),
        ("aio_request.request_response_observer", "RequestResponseObserver"),
        ("aio_request.request_attempt_delays_provider", "RequestAttemptDelaysProvider"),
        (
            "aio_request.percentile_based_request_attempt_delays_provider",
            "PercentileBasedRequestAttemptDelaysProvider",
        ),
    ],
)
def test_old_module_paths_import_with_a_warning_and_give_the_same_objects(module: str, name: str) -> None:
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match=rf"importing {module} is deprecated"):
        legacy = importlib.import_module(module)
    assert getattr(legacy, name) is getattr(aio_request, name)
    assert legacy.__name__ == module
    assert legacy.__spec__ is not None
    assert legacy.__spec__.name == module
    assert aio_request.__name__ == "aio_request"
    assert aio_request.__spec__ is not None
    assert aio_request.__spec__.name == "aio_request"
    with pytest.raises(AttributeError, match=rf"module '{module}' has no attribute 'nothing_here'"):
        legacy.nothing_here  # noqa: B018


def test_real_modules_win_over_old_paths_and_unknown_paths_stay_unknown() -> None:
    import aio_request.pipeline

    assert aio_request.pipeline.__name__ == "aio_request.pipeline"
    assert type(aio_request.pipeline) is types.ModuleType, "the real package, not a legacy module"
    assert hasattr(aio_request.pipeline, "build_pipeline")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("aio_request.no_such_module")


def test_an_old_module_named_like_a_package_function_does_not_replace_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """0.2.9 had modules ``setup`` and ``request``, also functions of the package."""
    from aio_request import _deprecated

    monkeypatch.setattr(_deprecated, "LEGACY_MODULES", _deprecated.LEGACY_MODULES | {"aio_request.get"})
    monkeypatch.delitem(sys.modules, "aio_request.get", raising=False)
    get = aio_request.get
    with pytest.warns(DeprecationWarning, match="importing aio_request.get is deprecated"):
        legacy = importlib.import_module("aio_request.get")
    assert aio_request.get is get, "still the request builder"
    assert legacy.Request is aio_request.Request


def test_from_old_module_import_in_a_fresh_interpreter() -> None:
    """As 0.2.9's own tests do it: the first import of the package comes with the old path."""
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "try:\n"
        "    from aio_request.base import build_query_parameters\n"
        "except DeprecationWarning as warning:\n"
        "    print('warned:', warning)\n"
        "warnings.simplefilter('ignore')\n"
        "from aio_request.base import build_query_parameters, substitute_path_parameters\n"
        "print(build_query_parameters({'a': [1, True, None]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "warned: importing aio_request.base is deprecated" in result.stdout
    assert "{'a': ['1', 'True']}" in result.stdout


def _quiet_base_names() -> tuple[object, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = importlib.import_module("aio_request.base")
        return legacy.build_query_parameters, legacy.substitute_path_parameters


def test_build_query_parameters_groups_values_as_0_2_9_did() -> None:
    build_query_parameters, _ = _quiet_base_names()
    sample = uuid.UUID(int=7)
    assert build_query_parameters({"a": None, "b": 1, "c": True, "d": sample}) == {  # type: ignore[operator]
        "b": "1",
        "c": "True",
        "d": str(sample),
    }
    assert build_query_parameters([("a", "1"), ("a", ["2", None]), ("b", [])]) == {"a": ["1", "2"]}  # type: ignore[operator]


def test_substitute_path_parameters_keeps_each_value_in_one_segment() -> None:
    _, substitute_path_parameters = _quiet_base_names()
    assert substitute_path_parameters(yarl.URL("{a}/do?b=2"), {"a": "1"}) == yarl.URL("1/do?b=2")  # type: ignore[operator]
    assert substitute_path_parameters(yarl.URL("https://site.com/{a}"), {"a": 1}) == yarl.URL(  # type: ignore[operator]
        "https://site.com/1"
    )
    # A deliberate difference (README, compatibility notes): "/" in a value is encoded.
    assert str(substitute_path_parameters(yarl.URL("{a}/do"), {"a": "x/y"})) == "x%2Fy/do"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("module", "name", "home"),
    [
        ("aio_request.response", "BufferedResponse", "aio_request.http.response"),
        ("aio_request.headers", "parse_request_timeout", "aio_request.http.headers"),
        ("aio_request.retry_after", "MAX_RETRY_AFTER_SECONDS", "aio_request.policies.retry_after"),
        ("aio_request.budget", "RetryBudget", "aio_request.policies.budget"),
        ("aio_request.percentile_delays", "PercentileBasedRequestAttemptDelaysProvider", "aio_request"),
    ],
)
def test_module_paths_from_before_the_folders_still_import_with_a_warning(
    module: str, name: str, home: str
) -> None:
    """The docs once showed these flat paths; each now warns and names the module's new home."""
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match=rf"importing {module} is deprecated"):
        moved = importlib.import_module(module)
    assert getattr(moved, name) is getattr(importlib.import_module(home), name)
    assert name in dir(moved)
    with pytest.raises(AttributeError, match=rf"module '{module}' has no attribute 'nothing_here'"):
        moved.nothing_here  # noqa: B018
