"""Zero egress: every xunshi process of a whole session (ingest, search, ask, draft, serve with a browser on the
page) records each connection and name lookup it attempts, through an audit hook loaded at start-up; the page's
requests are recorded by the browser. Nothing may go anywhere but this machine."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servers import free_port, wait_for_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
HOOK = """
import json, os, sys

_LOG = os.environ["XUNSHI_EGRESS_LOG"]


def _record(event, args):
    if event == "socket.connect":
        address = args[1]
    elif event == "socket.getaddrinfo":
        address = args[0]
    else:
        return
    if isinstance(address, (bytes, bytearray)) or (isinstance(address, str) and address.startswith("/")):
        return  # a Unix socket: local by definition
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, "address": address if isinstance(address, str) else list(address)[:2],
                            "argv": sys.argv[1:3]}) + "\\n")


sys.addaudithook(_record)
with open(_LOG, "a", encoding="utf-8") as f:
    f.write(json.dumps({"event": "start", "address": None, "argv": sys.argv[1:3]}) + "\\n")
"""
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def is_local(address) -> bool:
    if address is None:  # the hook's own start line
        return True
    host = address if isinstance(address, str) else address[0]
    if host is None or host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_a_whole_session_stays_on_this_machine(tmp_path, e5_model_dir):
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    log = tmp_path / "egress.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith("XUNSHI_")}
    env.update({"XUNSHI_HOME": str(tmp_path / "home"), "XUNSHI_MODELS_DIR": str(e5_model_dir.parent),
                "XUNSHI_EGRESS_LOG": str(log), "PYTHONPATH": str(hook_dir)})

    def xunshi(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return result

    xunshi("ingest", str(ROOT / "examples"))
    xunshi("search", "交叉巡察是怎么组织的", "--json")
    xunshi("ask", "巡审联动是怎么开展的？", "--json")
    xunshi("draft", "巡视整改", "--json")
    started = [json.loads(line)["argv"][:1] for line in log.read_text(encoding="utf-8").splitlines()]
    assert [["ingest"], ["search"], ["ask"], ["draft"]] == [a for a in started if a], "the audit hook did not load"

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(server, port, 180)
        requests = browse(f"http://127.0.0.1:{port}/")
    finally:
        server.terminate()
        server.wait(timeout=30)

    attempts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert any(a["argv"][:1] == ["serve"] and a["event"] != "start" for a in attempts), \
        "the server's own connections were not recorded"
    outside = [a for a in attempts if not is_local(a["address"])]
    assert outside == [], outside
    assert requests and all(r.startswith(f"http://127.0.0.1:{port}/") or r.startswith(f"ws://127.0.0.1:{port}/")
                            or r.startswith("data:") or r.startswith("blob:") for r in requests), requests


def browse(url: str) -> list[str]:
    """Open the page, ask one question, return every request the page made."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (./scripts/test.sh installs it)"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-default-apps", "--disable-domain-reliability"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.fill("#question textarea", "交叉巡察是如何组织的？")
        page.click("#send")
        page.wait_for_function("document.querySelector('#chat').innerText.includes('来源')", timeout=90_000)
        browser.close()
    return requests
