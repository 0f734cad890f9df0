"""Starting servers in tests: a free port on 127.0.0.1 and waiting until a process listens on it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(process: subprocess.Popen, port: int, timeout: float, log: Path | None = None) -> None:
    """Return once ``process`` accepts connections on ``port``; fail if it exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited: {log.read_text() if log else process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{process.args} did not listen on {port} within {timeout:.0f} s")


def wait_for_page(url: str, timeout: float) -> None:
    """Return once ``url`` answers HTTP 200 (the server is past its start-up, not just listening)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer HTTP 200 within {timeout:.0f} s")
        time.sleep(0.3)


@contextlib.contextmanager
def serving(home: Path, models_dir: Path, log: Path, env: dict | None = None) -> Iterator[tuple[str, dict]]:
    """`xunshi serve` on a free port of 127.0.0.1 over ``home``, its output in ``log``: (its URL, its
    environment), once it answers; stopped as Ctrl-C would stop it when the block ends."""
    port = free_port()
    full_env = {**os.environ, "XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(models_dir), **(env or {})}
    full_env.pop("XUNSHI_LLM_BASE_URL", None)
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)],
                                   cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_for_port(process, port, 180, log)
            wait_for_page(url, 60)
            yield url, full_env
        finally:
            process.terminate()
            process.wait(timeout=30)
