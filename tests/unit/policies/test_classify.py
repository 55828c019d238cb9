"""The default response classifier's verdicts."""

from __future__ import annotations

import pytest

from aio_request import DefaultResponseClassifier, EmptyResponse, ResponseVerdict

ACCEPT, REJECT = ResponseVerdict.ACCEPT, ResponseVerdict.REJECT


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, ACCEPT),
        (404, ACCEPT),
        (488, ACCEPT),
        (500, REJECT),
        (503, REJECT),
        (489, REJECT),
        (408, REJECT),
        (429, REJECT),
    ],
)
def test_default_verdicts(status: int, verdict: ResponseVerdict) -> None:
    assert DefaultResponseClassifier().classify(EmptyResponse(status=status)) is verdict


def test_do_not_retry_header_and_explicit_verdicts_win() -> None:
    classifier = DefaultResponseClassifier(verdict_for_status={404: REJECT, 503: ACCEPT})
    assert classifier.classify(EmptyResponse(status=404)) is REJECT
    assert classifier.classify(EmptyResponse(status=503)) is ACCEPT
    assert (
        DefaultResponseClassifier().classify(EmptyResponse(status=503, headers={"X-Do-Not-Retry": "1"}))
        is ACCEPT
    )
    custom_codes = DefaultResponseClassifier(network_errors_code=599, too_many_redirects_code=598)
    assert custom_codes.classify(EmptyResponse(status=489)) is ACCEPT
    assert custom_codes.classify(EmptyResponse(status=599)) is REJECT


def _rules(status: int, do_not_retry: bool, network_errors_code: int) -> ResponseVerdict:
    """The documented precedence, written plainly (no verdict_for_status)."""
    if do_not_retry:
        return ResponseVerdict.ACCEPT
    if status == 488:
        return ResponseVerdict.ACCEPT
    if status >= 500 or status == network_errors_code or status in (408, 429):
        return ResponseVerdict.REJECT
    return ResponseVerdict.ACCEPT


@pytest.mark.parametrize("network_errors_code", [489, 299, 304])
def test_every_status_follows_the_documented_rules(network_errors_code: int) -> None:
    classifier = DefaultResponseClassifier(network_errors_code=network_errors_code)
    for status in range(100, 600):
        for do_not_retry in (False, True):
            headers = {"X-Do-Not-Retry": "1"} if do_not_retry else None
            verdict = classifier.classify(EmptyResponse(status=status, headers=headers))
            assert verdict is _rules(status, do_not_retry, network_errors_code), (status, do_not_retry)
