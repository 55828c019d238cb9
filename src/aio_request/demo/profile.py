"""The service profile the demo replays: a latency histogram, an error rate and incidents.

A profile is a small TOML or JSON file (chosen by the file's suffix); the built-in one is
``default_profile.toml`` next to this module, and ``docs/demo.md`` describes every field. Loading
is strict: an unknown key, a wrong type or an out-of-range value raises :class:`ProfileError`
with a one-line message naming the file and the field (``incidents[1].rate``), so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

DEFAULT_PROFILE_RESOURCE: Final = "default_profile.toml"
"""The file name of the built-in profile inside this package."""


class ProfileError(ValueError):
    """A profile file that cannot be read or is invalid; the message is one line."""


class IncidentKind(enum.Enum):
    """What an incident does to the requests that arrive while it lasts."""

    ERRORS = "errors"
    """A share ``rate`` of requests is answered ``status`` (500) at once."""
    OUTAGE = "outage"
    """Every request is answered ``status`` (503) at once."""
    THROTTLE = "throttle"
    """A share ``rate`` of requests is answered 429 with ``Retry-After`` at once."""
    SLOWDOWN = "slowdown"
    """Every latency is multiplied by ``factor``."""


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyBucket:
    """Requests whose latency falls in ``(lower_ms, upper_ms]``, with probability ``share``."""

    lower_ms: float
    upper_ms: float
    share: float


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One incident between ``start`` and ``end`` (shares of the run, ``0 <= start < end <= 1``)."""

    kind: IncidentKind
    start: float
    end: float
    rate: float = 1.0
    status: int = 500
    retry_after_seconds: float = 1.0
    factor: float = 1.0

    @property
    def label(self) -> str:
        """A short name for tables: the kind."""
        return self.kind.value

    def to_json(self) -> dict[str, Any]:
        """The incident as in a profile file (only the fields its kind uses)."""
        fields = {"kind": self.kind.value, "start": self.start, "end": self.end}
        for name in sorted(_INCIDENT_KEYS[self.kind]):
            fields[name] = getattr(self, name)
        return fields


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """A service's behaviour: latency buckets (shares sum to 1), errors and incidents."""

    name: str
    deadline_seconds: float
    error_rate: float
    error_status: int
    buckets: tuple[LatencyBucket, ...]
    incidents: tuple[Incident, ...]

    def latency_percentile_ms(self, q: float) -> float:
        """The latency below which a share ``q`` of requests fall (no incident), in ms."""
        seen = 0.0
        for bucket in self.buckets:
            if bucket.share > 0 and seen + bucket.share >= q:
                inside = (q - seen) / bucket.share
                return bucket.lower_ms * math.pow(bucket.upper_ms / bucket.lower_ms, inside)
            seen += bucket.share
        return self.buckets[-1].upper_ms

    def to_json(self) -> dict[str, Any]:
        """The profile as JSON-ready data (the same shape as a profile file)."""
        return {
            "name": self.name,
            "deadline_seconds": self.deadline_seconds,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "latency": {
                "min_ms": self.buckets[0].lower_ms,
                "histogram": [[b.upper_ms, b.share] for b in self.buckets],
            },
            "incidents": [incident.to_json() for incident in self.incidents],
        }


_TOP_KEYS: Final = frozenset(
    {"name", "deadline_seconds", "error_rate", "error_status", "latency", "incidents"}
)
_INCIDENT_KEYS: Final = {
    IncidentKind.ERRORS: frozenset({"rate", "status"}),
    IncidentKind.OUTAGE: frozenset({"status"}),
    IncidentKind.THROTTLE: frozenset({"rate", "retry_after_seconds"}),
    IncidentKind.SLOWDOWN: frozenset({"factor"}),
}
_INCIDENT_STATUS: Final = {IncidentKind.ERRORS: 500, IncidentKind.OUTAGE: 503, IncidentKind.THROTTLE: 429}


def _number(
    where: str, value: object, *, low: float, high: float = math.inf, low_open: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{where} must be a number, got {value!r}")
    if value < low or (low_open and value == low) or value > high:
        bound = f"> {low}" if low_open else f">= {low}"
        limit = bound if high == math.inf else f"{bound} and <= {high}"
        raise ProfileError(f"{where} must be {limit}, got {value!r}")
    return float(value)


def _status(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ProfileError(f"{where} must be an HTTP error status (400-599), got {value!r}")
    return value


def _table(where: str, value: object, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(f"{where} must be a table, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )
    return value


def _buckets(value: object) -> tuple[LatencyBucket, ...]:
    latency = _table("latency", value, frozenset({"min_ms", "histogram"}))
    min_ms = _number("latency.min_ms", latency.get("min_ms", 1.0), low=0, low_open=True)
    histogram = latency.get("histogram")
    if not isinstance(histogram, list) or not histogram:
        raise ProfileError("latency.histogram must be a non-empty list of [upper_ms, share] pairs")
    edges_and_shares: list[tuple[float, float]] = []
    lower = min_ms
    for index, pair in enumerate(histogram):
        where = f"latency.histogram[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProfileError(f"{where} must be a pair [upper_ms, share], got {pair!r}")
        upper = _number(f"{where} upper_ms", pair[0], low=lower, low_open=True)
        share = _number(f"{where} share", pair[1], low=0)
        edges_and_shares.append((upper, share))
        lower = upper
    total = sum(share for _, share in edges_and_shares)
    if total <= 0:
        raise ProfileError("latency.histogram: the shares must not all be 0")
    buckets: list[LatencyBucket] = []
    previous = min_ms
    for upper, share in edges_and_shares:
        buckets.append(LatencyBucket(lower_ms=previous, upper_ms=upper, share=share / total))
        previous = upper
    return tuple(buckets)


def _incident(index: int, value: object) -> Incident:
    where = f"incidents[{index}]"
    if not isinstance(value, dict):
        raise ProfileError(f"{where} must be a table, got {value!r}")
    kinds = ", ".join(k.value for k in IncidentKind)
    try:
        kind = IncidentKind(value.get("kind"))
    except ValueError:
        raise ProfileError(f"{where}.kind must be one of {kinds}, got {value.get('kind')!r}") from None
    fields = _table(where, value, _INCIDENT_KEYS[kind] | {"kind", "start", "end"})
    start = _number(f"{where}.start", fields.get("start"), low=0, high=1)
    end = _number(f"{where}.end", fields.get("end"), low=0, high=1)
    if end <= start:
        raise ProfileError(f"{where}.end must be > start ({start}), got {end}")
    return Incident(
        kind=kind,
        start=start,
        end=end,
        rate=_number(f"{where}.rate", fields.get("rate", 1.0), low=0, high=1),
        status=_status(f"{where}.status", fields.get("status", _INCIDENT_STATUS.get(kind, 500))),
        retry_after_seconds=_number(
            f"{where}.retry_after_seconds", fields.get("retry_after_seconds", 1.0), low=0, high=3600
        ),
        factor=_number(f"{where}.factor", fields.get("factor", 1.0), low=0, low_open=True),
    )


def parse_profile(data: object) -> Profile:
    """Validate already-decoded profile data; raises :class:`ProfileError` naming the field."""
    fields = _table("profile", data, _TOP_KEYS)
    name = fields.get("name", "custom profile")
    if not isinstance(name, str):
        raise ProfileError(f"name must be a string, got {name!r}")
    incidents = fields.get("incidents", [])
    if not isinstance(incidents, list):
        raise ProfileError(f"incidents must be a list of tables, got {incidents!r}")
    if "latency" not in fields:
        raise ProfileError("the [latency] table with its histogram is missing")
    return Profile(
        name=name,
        deadline_seconds=_number("deadline_seconds", fields.get("deadline_seconds", 2.0), low=0.01, high=60),
        error_rate=_number("error_rate", fields.get("error_rate", 0.0), low=0, high=1),
        error_status=_status("error_status", fields.get("error_status", 500)),
        buckets=_buckets(fields["latency"]),
        incidents=tuple(_incident(i, incident) for i, incident in enumerate(incidents)),
    )


def _decode(text: str, suffix: str, name: str) -> object:
    try:
        if suffix == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if suffix == ".json" else "TOML"
        raise ProfileError(f"{name} is not valid {kind}: {error}") from None


def load_profile(path: str | Path | None = None) -> Profile:
    """Read and validate the profile at ``path`` (``.toml`` or ``.json``); ``None``: the built-in one.

    Raises :class:`ProfileError` (one line, naming the file) when the file cannot be read, is
    not valid TOML/JSON, or a field is missing, unknown or out of range.
    """
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_PROFILE_RESOURCE).read_text("utf-8")
        return parse_profile(tomllib.loads(text))
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ProfileError(f"{path}: a profile must be a .toml or .json file")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ProfileError(f"cannot read profile {path}: {reason}") from None
    try:
        return parse_profile(_decode(text, suffix, str(path)))
    except ProfileError as error:
        message = str(error)
        raise ProfileError(message if message.startswith(str(path)) else f"{path}: {message}") from None
