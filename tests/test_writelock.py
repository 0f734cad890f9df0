"""One writer per embedded store: `xunshi serve` and a CLI ingest on one home, a lock left by kill -9,
a Chroma server (no lock), and reading commands beside a write. Real processes, a real embedded
Chroma, the real model from disk."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ingest.errors import StoreBusyError
from servers import free_port, wait_for_page, wait_for_port
from vectorstore.writelock import STORE_FILE, WRITER_FILE, WriterLock, read_holder, reading

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
NEW_TEXT = "2022年县委巡察工作要点\n\n建立“三色预警”机制，对整改滞后的单位亮灯督办。\n"

# A process that holds a home's locks through the same API the commands use, until it is stopped.
HOLD = """
import sys, time
from pathlib import Path
from vectorstore.writelock import WriterLock, reading
home, mode, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
if mode == "read":
    with reading(home):
        print("held", flush=True)
        time.sleep(seconds)
else:
    with WriterLock(home, "xunshi ingest big/") as writer, writer.changing():
        print("held", flush=True)
        time.sleep(seconds)
"""


def run(home: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True,
                          env={**os.environ, "XUNSHI_HOME": str(home), **env}, cwd=ROOT, timeout=600)


def one_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def hold(home: Path, mode: str, seconds: float = 120) -> subprocess.Popen:
    """Start a process holding ``home``'s writer lock and store (``write``) or reading it (``read``)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(home), mode, str(seconds)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def env(e5_model_dir):
    return {"XUNSHI_MODELS_DIR": str(e5_model_dir.parent)}


@pytest.fixture(scope="module")
def home(tmp_path_factory, env):
    """The bundled sample ingested by `xunshi ingest` into a home shared by this module."""
    home = tmp_path_factory.mktemp("writelock") / "home"
    result = run(home, "ingest", str(EXAMPLES), "-q", env=env)
    assert result.returncode == 0, result.stderr
    return home


def new_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(NEW_TEXT.replace("三色预警", name.removesuffix(".txt")), encoding="utf-8")
    return path


def test_an_ingest_beside_serve_is_refused_and_the_page_goes_on(home, env, tmp_path):
    from gradio_client import Client

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=ROOT,
                                 env={**os.environ, "XUNSHI_HOME": str(home), **env}, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        wait_for_port(serve, port, 180, log)
        wait_for_page(f"http://127.0.0.1:{port}/", 120)
        before = one_json(run(home, "docs", "list", "--json", env=env).stdout)  # reading beside serve is fine

        refused = run(home, "ingest", str(new_file(tmp_path, "三色预警.txt")), "--json", env=env)
        assert refused.returncode == 2 and refused.stdout == ""
        message = refused.stderr.strip()
        assert len(message.splitlines()) == 1 and "Traceback" not in message
        assert f"is being written by pid {serve.pid} (xunshi serve --port {port}, since " in message
        assert f"知识库 tab of its page (http://127.0.0.1:{port})" in message and "XUNSHI_CHROMA_URL" in message
        assert one_json(run(home, "docs", "list", "--json", env=env).stdout) == before

        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False, download_files=False)
        chat = client.predict("巡审联动是怎么开展的？", [], "问答", [], None, None, "全部", api_name="/ask")[0]
        assert "巡审联动" in str(chat[1]["content"]) and "来源" in str(chat[1]["content"])
        assert serve.poll() is None
    finally:
        serve.terminate()  # as `kill` would: serve stops like on Ctrl-C and lets go of the lock
        serve.wait(timeout=60)
    assert serve.returncode == 0, log.read_text()
    assert read_holder(home) is None


def test_a_lock_left_by_kill_9_is_taken_over(home, env, tmp_path):
    extra = new_file(tmp_path, "红黄绿.txt")
    killed = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(extra), "-q"], cwd=ROOT,
                              env={**os.environ, "XUNSHI_HOME": str(home), **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (holder := read_holder(home)) is None or holder.pid != killed.pid:
        assert time.monotonic() < deadline and killed.poll() is None, "the ingest never took the lock"
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert read_holder(home).pid == killed.pid  # the file is left behind, the lock is not

    result = run(home, "ingest", str(extra), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert one_json(result.stdout)["added"] == 1
    assert f"took over the writer lock of {home} from pid {killed.pid} (xunshi ingest {extra} -q" in result.stderr
    assert read_holder(home) is None  # released at the end


def test_with_a_chroma_server_several_writers_are_fine(chroma_server, env, home, tmp_path):
    # (``home``: the module's first ingest has made the query export the two writers share.)
    server_home = tmp_path / "home"
    server_home.mkdir()
    server_env = {**env, "XUNSHI_CHROMA_URL": chroma_server, "XUNSHI_COLLECTION": f"wl-{uuid.uuid4().hex[:8]}"}
    holder = hold(server_home, "write")  # the embedded store's locks mean nothing to a server's clients
    try:
        writers = [subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(path), "-q", "--json"],
                                    cwd=ROOT, env={**os.environ, "XUNSHI_HOME": str(server_home), **server_env},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for path in (EXAMPLES, new_file(tmp_path, "三色预警.txt"))]
        results = [(*w.communicate(timeout=600), w.returncode) for w in writers]
    finally:
        stop(holder)
    for out, err, code in results:
        assert code == 0, err
        assert one_json(out)["failed"] == [] and "being written" not in err
    listed = one_json(run(server_home, "docs", "list", "--json", env=server_env).stdout)
    assert listed["count"] == 4


def test_a_reader_waits_for_a_write_or_says_why(home, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="vectorstore.writelock")
    writer = hold(home, "write", seconds=2)
    started = time.monotonic()
    with reading(home, wait=60):
        assert time.monotonic() - started > 1.5  # it waited for the write to end
    writer.wait(timeout=30)
    assert f"waiting for pid {writer.pid} (xunshi ingest big/, since" in caplog.text

    writer = hold(home, "write")
    try:
        with pytest.raises(StoreBusyError, match=f"is being changed by pid {writer.pid} .* did not finish within 0.3 s"):
            with reading(home, wait=0.3):
                pass
    finally:
        stop(writer)


def test_a_reading_command_gives_up_after_wait_with_exit_2(home, env):
    writer = hold(home, "write")
    try:
        result = run(home, "--wait", "1", "docs", "list", "--json", env=env)
    finally:
        stop(writer)
    assert result.returncode == 2 and result.stdout == ""
    assert f"waiting for pid {writer.pid}" in result.stderr
    assert f"is being changed by pid {writer.pid} (xunshi ingest big/, since" in result.stderr
    assert "did not finish within 1 s" in result.stderr and "Traceback" not in result.stderr


def test_a_writer_waits_for_readers_then_says_who(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    reader = hold(home, "read")
    try:
        with WriterLock(home, "xunshi docs remove x", wait=0.3) as writer:
            with pytest.raises(StoreBusyError, match=rf"is being read by pid {reader.pid} \(.* -c import sys"):
                with writer.changing():
                    pass
            with pytest.raises(StoreBusyError, match="is being written by pid"):
                with WriterLock(home, "xunshi ingest y"):
                    pass
    finally:
        stop(reader)
    with WriterLock(home, "xunshi docs remove x") as writer, writer.changing():
        assert json.loads((home / WRITER_FILE).read_text())["command"] == "xunshi docs remove x"
    assert (home / WRITER_FILE).read_text() == "" and (home / STORE_FILE).exists()


def test_reading_commands_create_nothing_in_an_empty_home(tmp_path, env):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    home = tmp_path / "empty"
    home.mkdir()
    listed = run(home, "docs", "list", "--json", env=env)
    assert listed.returncode == 0 and one_json(listed.stdout) == {"documents": [], "count": 0, "chunks": 0}
    assert one_json(run(home, "terms", "--json", env=env).stdout)["count"] == 0
    searched = run(home, "search", "巡察", env=env)
    assert searched.returncode == 2 and "nothing has been ingested yet" in searched.stderr
    client = chromadb.PersistentClient(path=str(home / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    assert list(client.list_collections()) == []
    assert not (home / WRITER_FILE).exists()
