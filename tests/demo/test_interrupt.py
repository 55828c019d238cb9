"""Ctrl-C: the demo stops every server and task, exits 130, and prints no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_exits_cleanly(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aio_request",
            "demo",
            "--duration",
            "20",
            "--no-plot",
            "--output",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("workload:"):
                break
        time.sleep(1.5)  # well into the run: servers up, calls in flight
        os.kill(demo.pid, signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, err
    assert "interrupted" in err
    for trouble in ("Traceback", "Unclosed", "Task was destroyed", "Exception ignored", "never awaited"):
        assert trouble not in err
    assert "Results in" not in out
