"""Load on the web chat: N concurrent sessions asking for D seconds against `xunshi serve`.

    .venv/bin/python benchmarks/bench_load.py --home DIR [--sessions 16] [--seconds 60]

DIR is a xunshi home with a corpus ingested. The script starts `xunshi serve` on a free port of 127.0.0.1,
runs one gradio_client session per thread, each asking the dev-set questions in turn (extractive answers) until
the time is up, then prints answered requests, errors, p50/p95 latency and the server's peak RSS, and stops the
server. Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--questions", default=str(ROOT / "tests/data/dev/sample_qa.jsonl"))
    args = parser.parse_args()

    from gradio_client import Client

    questions = [json.loads(line)["q"] for line in Path(args.questions).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    port = free_port()
    env = {**os.environ, "XUNSHI_HOME": str(args.home)}
    env.pop("XUNSHI_LLM_BASE_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        time.sleep(1)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        peak = [rss_mb(server.pid)]
        stop = time.monotonic() + args.seconds

        def session(index: int) -> None:
            client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
            i = index
            while time.monotonic() < stop:
                question = questions[i % len(questions)]
                i += args.sessions
                t0 = time.perf_counter()
                try:
                    chat = client.predict(question, [], "问答", [], None, None, "全部", api_name="/ask")[0]
                    ok = len(chat) == 2 and question in str(chat[0]["content"])
                except Exception as e:  # noqa: BLE001 - every failure counts as an error
                    ok, chat = False, str(e)
                elapsed = time.perf_counter() - t0
                with lock:
                    (latencies.append(elapsed) if ok else errors.append(f"{question}: {str(chat)[:120]}"))

        def watch() -> None:
            while time.monotonic() < stop + 5:
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.5)

        threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * (len(ordered) - 1)))] if ordered else float("nan")
        print(f"{args.sessions} sessions for {args.seconds:.0f} s against xunshi serve (extractive answers)")
        print("| answered | errors | answers/s | p50 s | p95 s | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        print(f"| {len(latencies)} | {len(errors)} | {len(latencies) / args.seconds:.1f} | "
              f"{statistics.median(ordered) if ordered else float('nan'):.2f} | {p95:.2f} | {peak[0]:.0f} |")
        for e in errors[:5]:
            print(f"error: {e}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
