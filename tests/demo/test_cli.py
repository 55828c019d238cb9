"""The command line: help, one-line errors (never a traceback), a tiny run, no matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aio_request.__main__ import main

TINY = ["--duration", "1", "--requests", "40", "--concurrency", "8"]


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--quick", "--duration", "--requests", "--concurrency", "--seed", "--profile"):
        assert option in out
    assert "--output" in out
    assert "--no-plot" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--duration", "soon"], "argument --duration: expected a number, got 'soon'"),
        (["demo", "--duration", "0"], "argument --duration: must be between 1 and 3600, got 0"),
        (["demo", "--requests", "2.5"], "argument --requests: expected a number"),
        (["demo", "--concurrency", "0"], "argument --concurrency: must be between"),
        (["lab"], "invalid choice: 'lab'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_a_wrong_option_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_wrong_profile_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[latency]\nhistogram = [[10, 1]]\n[[incidents]]\nkind = 'meteor'\n", "utf-8")
    for profile, message in [
        (tmp_path / "missing.toml", "cannot read profile"),
        (broken, "incidents[0].kind must be one of"),
    ]:
        assert main(["demo", "--profile", str(profile)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("aio-request demo: error: ")
        assert err.count("\n") == 1
        assert message in err


def test_an_output_path_that_is_a_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("", "utf-8")
    assert main(["demo", *TINY, "--output", str(taken / "results")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot create the output folder" in err


def test_the_module_entry_point_never_prints_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aio_request", "demo", "--profile", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_without_matplotlib_the_demo_runs_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["demo", *TINY, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no plot: matplotlib is not installed" in out
    assert f"Results in {tmp_path}/: results.json" in out
    assert not (tmp_path / "latency_cdf.png").exists()
    results = json.loads((tmp_path / "results.json").read_text("utf-8"))
    assert [len(s["calls"]["rows"]) for s in results["scenarios"]] == [40] * 16
