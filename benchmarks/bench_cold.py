"""Cold start: each xunshi command run as a whole process, several times; wall time, peak RSS, heavy imports.

    .venv/bin/python benchmarks/bench_cold.py [--home DIR] [--runs 5] [--json]
        [--big-chunks 20000 | --big-home DIR] [--serve-questions 5] [--public DIR]

DIR is a xunshi home with a corpus ingested (e.g. `XUNSHI_HOME=DIR xunshi ingest ../shared/corpus/public`).
Without --home, the public corpus (--public, ../shared/corpus/public by default, not shipped) is ingested into
a temporary home first. Nothing but Python is needed: each command is started with subprocess and reaped with
os.wait4, which gives that process's own peak RSS (ru_maxrss; a command's own child processes would not be
counted, and none of the commands timed here starts one: the table's header says how many `xunshi serve` had).

Timed, in rounds (each round runs every command once, in the order of the table; no cache is dropped, so
"first" is the first run in this benchmark, after the runs of the commands above it in the same round):
- `python -c "import assistant.cli"`, `xunshi --help`, `xunshi docs list`: for reference;
- `xunshi search QUESTION -k 3 --json` (target <= 1.5 s, <= 600 MB peak RSS), `xunshi ask QUESTION`
  (<= 2 s; extractive: XUNSHI_LLM_BASE_URL is unset for every child), `xunshi draft TOPIC`,
  `xunshi precedents PRACTICE`;
- `xunshi serve` on a free port of 127.0.0.1: seconds from the start until its page answers HTTP 200
  (target <= 6 s), until a first question is answered through the page's API (POST /gradio_api/call/ask, then
  its event stream), then --serve-questions - 1 more questions (their median seconds each) and the server's
  peak RSS over all of it (VmHWM, then ru_maxrss once it has stopped; target <= 900 MB). The server is stopped
  at the end of each run, also on errors and Ctrl-C.
With --big-chunks N (default 20000; 0 skips it), search and serve are run again on a store of about N chunks,
made by copying the chunks and sentences of --home with noisy vectors (bench_search.build_copy) into a
temporary home, or on --big-home DIR; no target there, reported only.

A home given with --home is used as it is (the first search after an ingest builds the lexical index on disk;
a home ingested here, and the big copy, get one untimed search first). The big copy's documents keep their
doc_ids, so it lists as many documents as --home with about --big-chunks chunks.
"median" and "min–max" are over the runs after the first (all runs when --runs is 1). Last, each command is run
once more with PYTHONPROFILEIMPORTTIME=1 (python -X importtime) to tell which heavy modules it imports
(torch, sentence_transformers, transformers, gradio, langchain*) and which packages' own import time dominates.
Progress goes to stderr, the tables (or with --json one object) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC = ROOT.parent / "shared" / "corpus" / "public"
QUESTIONS = ROOT / "tests" / "data" / "dev" / "public_qa.jsonl"
HEAVY = ("torch", "sentence_transformers", "transformers", "gradio", "langchain")
SEARCH_S, SEARCH_MB, ASK_S, PAGE_S, SERVE_MB = 1.5, 600, 2.0, 6.0, 900
SERVE_TIMEOUT = 180.0  # seconds a server may take to answer its page or a question before the run fails
# No proxy for 127.0.0.1, whatever the environment says.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --- one process ----------------------------------------------------------------------------------


@dataclass
class Proc:
    """One finished command: wall seconds, its own peak RSS, exit code and output."""

    seconds: float
    rss_mb: float
    code: int
    stdout: str
    stderr: str


def run(argv: list[str], env: dict[str, str]) -> Proc:
    """Run ``argv`` to its end; time it from before the fork to its reaping, which gives its rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(seconds, usage.ru_maxrss / 1024, process.returncode,
                    out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def checked(argv: list[str], env: dict[str, str]) -> Proc:
    done = run(argv, env)
    if done.code != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {done.code}: {done.stderr.strip()[-800:]}")
    return done


# --- xunshi serve ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (empty once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith(("VmRSS", "VmHWM"))}


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (all its threads')."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def page_is_up(port: int) -> bool:
    try:
        with HTTP.open(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status == 200
    except OSError:  # refused while starting; URLError and HTTPError are OSErrors too
        return False


def ask_page(port: int, question: str) -> str:
    """Ask through the page's API as the page's send button does (extractive 问答, no filters); the answer text."""
    base = f"http://127.0.0.1:{port}/gradio_api/call/ask"
    body = json.dumps({"data": [question, [], "问答", [], None, None, "全部"]}).encode()
    request = urllib.request.Request(base, data=body, headers={"Content-Type": "application/json"})
    with HTTP.open(request, timeout=SERVE_TIMEOUT) as response:
        event_id = json.load(response)["event_id"]
    event = ""
    with HTTP.open(f"{base}/{event_id}", timeout=SERVE_TIMEOUT) as stream:
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[len("event:"):].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"the page answered {question!r} with an error: {line[:300]}")
                chat = json.loads(line[len("data:"):])[0]
                content = chat[-1]["content"]
                parts = content if isinstance(content, list) else [content]
                answer = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)
                if chat[-1]["role"] != "assistant" or not answer.strip("…").strip():
                    raise RuntimeError(f"no answer to {question!r}: {chat[-1]}")
                return answer
    raise RuntimeError(f"the event stream for {question!r} ended without an answer")


@dataclass
class ServeRun:
    page_s: float
    page_rss_mb: float
    first_answer_s: float
    answer_s: list[float]  # each later question, on its own
    peak_rss_mb: float  # max of VmHWM while running and ru_maxrss after
    rss_mb: float  # VmRSS after the last question
    children: int
    stderr: str = field(repr=False, default="")


def stop(process: subprocess.Popen) -> float:
    """Stop the server (SIGTERM, SIGKILL after 20 s) and reap it; its ru_maxrss in MB."""
    if process.returncode is None:
        try:
            process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return usage.ru_maxrss / 1024
            if time.monotonic() > deadline:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                return usage.ru_maxrss / 1024
            time.sleep(0.05)
    return 0.0


def serve_once(xunshi: str, env: dict[str, str], questions: list[str]) -> ServeRun:
    port = free_port()
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen([xunshi, "serve", "--port", str(port)], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        peak = [0.0]
        watching = threading.Event()

        def watch() -> None:  # VmHWM can lag behind VmRSS a little: keep the larger of both
            while not watching.wait(0.1):
                peak[0] = max([peak[0], *proc_status(process.pid).values()])

        try:
            while not page_is_up(port):
                if process.poll() is not None:
                    err.seek(0)
                    raise RuntimeError(f"xunshi serve exited {process.returncode}: {err.read().decode()[-800:]}")
                if time.perf_counter() - t0 > SERVE_TIMEOUT:
                    raise RuntimeError(f"xunshi serve did not answer its page within {SERVE_TIMEOUT:.0f} s")
                time.sleep(0.05)
            page_s = time.perf_counter() - t0
            status = proc_status(process.pid)
            page_rss = max(status.values())
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            ask_page(port, questions[0])
            first_s = time.perf_counter() - t0
            answers = []
            for question in questions[1:]:
                t1 = time.perf_counter()
                ask_page(port, question)
                answers.append(time.perf_counter() - t1)
            watching.set()
            watcher.join()
            status = proc_status(process.pid)
            kids = len(children(process.pid))
        finally:
            watching.set()
            maxrss = stop(process)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return ServeRun(page_s, page_rss, first_s, answers, max(peak[0], status.get("VmHWM", 0.0), maxrss),
                    status.get("VmRSS", 0.0), kids, stderr)


# --- the commands ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a command on a store, its runs and its target."""

    store: str
    command: str
    target_s: float | None = None
    target_mb: float | None = None
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    imports: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        later = self.seconds[1:] or self.seconds
        median = statistics.median(later) if later else None
        peak = max(self.rss_mb) if self.rss_mb else None
        met = []
        if self.target_s is not None and median is not None:
            met.append(("time", median <= self.target_s))
        if self.target_mb is not None and peak is not None:
            met.append(("RSS", peak <= self.target_mb))
        return {"first_s": self.seconds[0] if self.seconds else None, "median_s": median,
                "min_s": min(later) if later else None, "max_s": max(later) if later else None,
                "peak_rss_mb": peak, "met": all(ok for _, ok in met) if met else None,
                "missed": [what for what, ok in met if not ok]}


def questions(path: Path, n: int) -> list[str]:
    qs = [json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [qs[i % len(qs)] for i in range(n)]


def plain_commands(python: str, xunshi: str, args: argparse.Namespace) -> list[tuple[str, list[str], float | None,
                                                                                      float | None]]:
    """(label, argv, target seconds, target MB) for the commands that run to their end."""
    return [
        ('python -c "import assistant.cli"', [python, "-c", "import assistant.cli"], None, None),
        ("xunshi --help", [xunshi, "--help"], None, None),
        ("xunshi docs list", [xunshi, "docs", "list"], None, None),
        ("xunshi search Q -k 3 --json", [xunshi, "search", args.question, "-k", "3", "--json"], SEARCH_S, SEARCH_MB),
        ("xunshi ask Q", [xunshi, "ask", args.question], ASK_S, None),
        ("xunshi draft TOPIC", [xunshi, "draft", args.topic], None, None),
        ("xunshi precedents P", [xunshi, "precedents", args.practice], None, None),
    ]


def check_output(label: str, done: Proc) -> None:
    if label.startswith("xunshi search"):
        results = json.loads(done.stdout)["results"]
        if not results:
            raise RuntimeError(f"{label} found nothing: is the home ingested?")


def serve_rows(store: str, n_questions: int, targets: bool) -> list[Row]:
    return [Row(store, "xunshi serve → page HTTP 200", PAGE_S if targets else None),
            Row(store, "xunshi serve → first answer (s from start)"),
            Row(store, f"xunshi serve, {n_questions - 1} more answers (s each)", None, SERVE_MB if targets else None)]


def add_serve(rows: list[Row], run_: ServeRun) -> None:
    page, first, more = rows
    page.seconds.append(run_.page_s)
    page.rss_mb.append(run_.page_rss_mb)
    first.seconds.append(run_.first_answer_s)
    more.seconds.append(statistics.median(run_.answer_s) if run_.answer_s else float("nan"))
    more.rss_mb.append(run_.peak_rss_mb)


# --- import profiles -------------------------------------------------------------------------------


def import_profile(stderr: str) -> dict[str, Any]:
    """From `-X importtime` lines: total import ms, the heavy packages seen, and the packages whose own import
    time (self, summed over their modules) is largest."""
    own: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        package = name.strip().split(".")[0]
        own[package] = own.get(package, 0) + int(self_us)
    heavy = sorted({p for p in own for h in HEAVY if p == h or (h == "langchain" and p.startswith("langchain"))})
    top = sorted(own.items(), key=lambda kv: -kv[1])[:4]
    return {"total_ms": sum(own.values()) / 1000, "heavy": heavy, "torch": "torch" in own,
            "top": [(p, us / 1000) for p, us in top]}


def profile_imports(rows_by_label: dict[str, Row], commands: list, xunshi: str, env: dict[str, str],
                    serve_questions: list[str]) -> None:
    profiled = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    for label, argv, _, _ in commands:
        log(f"importtime: {label}")
        rows_by_label[label].imports = import_profile(checked(argv, profiled).stderr)
    log("importtime: xunshi serve")
    profile = import_profile(serve_once(xunshi, profiled, serve_questions[:1]).stderr)
    for label, row in rows_by_label.items():
        if label.startswith("xunshi serve"):
            row.imports = profile


# --- stores ----------------------------------------------------------------------------------------


def store_info(xunshi: str, env: dict[str, str]) -> dict[str, int]:
    listing = json.loads(checked([xunshi, "docs", "list", "--json"], env).stdout)
    return {"documents": listing["count"], "chunks": listing["chunks"]}


def build_big(source: Path, target: Path, size: int) -> None:
    """(In a child process.) Fill ``target`` with copies of the chunks and sentences of ``source``."""
    from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                    build_store)
    from assistant.settings import Settings
    from bench_search import build_copy

    src = Settings(home=source)
    apply_offline_environment(src)
    embeddings = build_embeddings(src)
    source_store = build_store(src, build_chroma_client(src), embeddings)
    dst = Settings(home=target, models_dir=src.models_path)
    build_copy(source_store, build_store(dst, build_chroma_client(dst), embeddings), size)


def prepare_big(args: argparse.Namespace, home: Path, tmp: Path, xunshi: str, env: dict[str, str]) -> Path:
    big = tmp / "big-home"
    log(f"big store: copying {home} to about {args.big_chunks} chunks in {big} …")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--build-copy", str(home), str(big),
                    str(args.big_chunks)], cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    log(f"big store: built in {time.perf_counter() - t0:.0f} s")
    return big


def ingest_public(public: Path, home: Path, xunshi: str, env: dict[str, str]) -> None:
    log(f"ingesting {public} into {home} (no --home given) …")
    t0 = time.perf_counter()
    checked([xunshi, "ingest", "-q", "--json", str(public)], env)
    log(f"ingested in {time.perf_counter() - t0:.0f} s")


def prime(xunshi: str, env: dict[str, str], question: str) -> None:
    """The first search after an ingest builds the lexical index on disk; do it before anything is timed."""
    checked([xunshi, "search", question, "-k", "1", "--json"], env)


# --- output ----------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def target_text(row: Row) -> str:
    parts = ([f"≤ {row.target_s:g} s"] if row.target_s is not None else []) + (
        [f"≤ {row.target_mb:g} MB"] if row.target_mb is not None else [])
    return ", ".join(parts) or "—"


def met_text(summary: dict[str, Any]) -> str:
    if summary["met"] is None:
        return "—"
    return "yes" if summary["met"] else "NO (" + ", ".join(summary["missed"]) + ")"


def print_tables(rows: list[Row], header: dict[str, Any]) -> None:
    print(f"machine: {header['machine']}   load (1, 5, 15 min) before: {header['load']}")
    for name, info in header["stores"].items():
        print(f"store {name}: {info['home']} — {info['documents']} documents, {info['chunks']} chunks")
    print(f"{header['runs']} runs per command, in rounds; first = the first run; median and min–max over the "
          f"others; RSS = the process's own peak (ru_maxrss; serve: VmHWM); xunshi serve had "
          f"{header['serve_children']} child processes")
    print(f"question: {header['question']}   topic: {header['topic']}   practice: {header['practice']}   "
          f"serve questions: {header['serve_questions']} from {header['questions_file']}")
    print()
    columns = ("store", "command", "target", "first s", "median s", "min–max s", "peak RSS MB", "met", "torch?",
               "heavy imports")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        s = row.summary()
        spread = "—" if s["min_s"] is None or len(row.seconds) < 2 else f"{s['min_s']:.2f}–{s['max_s']:.2f}"
        torch = "—" if not row.imports else ("yes" if row.imports["torch"] else "no")
        heavy = "—" if not row.imports else (", ".join(row.imports["heavy"]) or "none")
        print(f"| {row.store} | {row.command} | {target_text(row)} | {fmt(s['first_s'])} | {fmt(s['median_s'])} | "
              f"{spread} | {fmt(s['peak_rss_mb'], '.0f')} | {met_text(s)} | {torch} | {heavy} |")
    print()
    print("imports (one run with -X importtime; own time of each top-level package, summed over its modules):")
    print()
    print("| command | import ms | largest packages, ms |")
    print("|---|---|---|")
    seen = set()
    for row in rows:
        key = "xunshi serve" if row.command.startswith("xunshi serve") else row.command
        if not row.imports or key in seen:
            continue
        seen.add(key)
        top = ", ".join(f"{p} {ms:.0f}" for p, ms in row.imports["top"])
        print(f"| {key} | {row.imports['total_ms']:.0f} | {top} |")
    print()
    print("reproduce: " + header["command"])


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an ingested xunshi home (default: ingest --public into a temp one)")
    parser.add_argument("--public", type=Path, default=DEFAULT_PUBLIC, help="corpus ingested when --home is not given")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    parser.add_argument("--big-chunks", type=int, default=20000,
                        help="also run search and serve on a copy of --home grown to about this many chunks (0: no)")
    parser.add_argument("--big-home", type=Path, help="an existing big home to use instead of building a copy")
    parser.add_argument("--serve-questions", type=int, default=5, help="questions asked per serve run (>= 1)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="JSONL with q: the serve questions")
    parser.add_argument("--question", default="巡察整改中的“四个不放过”指什么？", help="for search and ask")
    parser.add_argument("--topic", default="巡视整改", help="for draft")
    parser.add_argument("--practice", default="推磨式", help="for precedents")
    parser.add_argument("--build-copy", nargs=3, metavar=("SOURCE", "TARGET", "CHUNKS"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    # Ctrl-C, or a SIGTERM, unwinds through the finally blocks that stop a running server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.build_copy:
        source, target, size = args.build_copy
        build_big(Path(source), Path(target), int(size))
        return
    if args.runs < 1 or args.serve_questions < 1:
        parser.error("--runs and --serve-questions must be at least 1")
    python = sys.executable
    beside = Path(python).with_name("xunshi")
    xunshi = str(beside) if beside.exists() else shutil.which("xunshi")
    if not xunshi:
        parser.error("no xunshi command next to this Python or on PATH: run with .venv/bin/python")
    if args.home is None and not args.public.is_dir():
        parser.error(f"no --home given and no public corpus at {args.public} (see --public)")
    serve_qs = questions(args.questions, args.serve_questions)
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("XUNSHI_LLM_BASE_URL", "PYTHONPROFILEIMPORTTIME", "XUNSHI_HOME")}
    base_env["PYTHONUNBUFFERED"] = "1"

    with tempfile.TemporaryDirectory(prefix="xunshi-cold-") as tmp_name:
        tmp = Path(tmp_name)
        home = args.home.resolve() if args.home else tmp / "home"
        env = {**base_env, "XUNSHI_HOME": str(home)}
        if args.home is None:
            ingest_public(args.public, home, xunshi, env)
            prime(xunshi, env, args.question)
        stores = {"main": (home, env)}
        if args.big_home or args.big_chunks:
            if args.big_home:
                big = args.big_home.resolve()
                big_env = {**base_env, "XUNSHI_HOME": str(big)}
            else:
                big = prepare_big(args, home, tmp, xunshi, env)
                # The copy uses the models of --home: nothing to unpack or export again.
                from assistant.settings import Settings

                models = Settings(home=home).models_path
                big_env = {**base_env, "XUNSHI_HOME": str(big), "XUNSHI_MODELS_DIR": str(models)}
                prime(xunshi, big_env, args.question)
            stores["big"] = (big, big_env)

        commands = plain_commands(python, xunshi, args)
        rows = [Row("main", label, ts, mb) for label, _, ts, mb in commands]
        main_serve = serve_rows("main", args.serve_questions, True)
        rows += main_serve
        search = next(c for c in commands if c[0].startswith("xunshi search"))
        big_rows = [Row("big", search[0])] + serve_rows("big", args.serve_questions, False) if "big" in stores else []
        rows += big_rows
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        serve_children = set()

        for round_ in range(args.runs):
            for (label, argv, _, _), row in zip(commands, rows):
                done = checked(argv, env)
                check_output(label, done)
                row.seconds.append(done.seconds)
                row.rss_mb.append(done.rss_mb)
                log(f"run {round_ + 1}/{args.runs} {label}: {done.seconds:.2f} s, {done.rss_mb:.0f} MB")
            served = serve_once(xunshi, env, serve_qs)
            add_serve(main_serve, served)
            serve_children.add(served.children)
            log(f"run {round_ + 1}/{args.runs} xunshi serve: page {served.page_s:.2f} s, first answer "
                f"{served.first_answer_s:.2f} s, peak {served.peak_rss_mb:.0f} MB")
            if big_rows:
                _, big_env = stores["big"]
                done = checked(search[1], big_env)
                check_output(search[0], done)
                big_rows[0].seconds.append(done.seconds)
                big_rows[0].rss_mb.append(done.rss_mb)
                served = serve_once(xunshi, big_env, serve_qs)
                add_serve(big_rows[1:], served)
                serve_children.add(served.children)
                log(f"run {round_ + 1}/{args.runs} big store: search {done.seconds:.2f} s, serve page "
                    f"{served.page_s:.2f} s, peak {served.peak_rss_mb:.0f} MB")

        by_label = {row.command: row for row in rows if row.store == "main"}
        profile_imports(by_label, commands, xunshi, env, serve_qs)
        for row in big_rows:
            row.imports = by_label[row.command].imports
        header = {
            "machine": f"{cores()} cores, {platform.machine()}, Python {platform.python_version()}",
            "load": f"{load}; after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "stores": {name: {"home": str(h), **store_info(xunshi, e)} for name, (h, e) in stores.items()},
            "runs": args.runs,
            "serve_children": ", ".join(str(c) for c in sorted(serve_children)),
            "question": args.question, "topic": args.topic, "practice": args.practice,
            "serve_questions": args.serve_questions, "questions_file": str(args.questions),
            "command": shlex.join([".venv/bin/python", "benchmarks/bench_cold.py", *sys.argv[1:]]),
        }
    if args.json:
        print(json.dumps({**header, "rows": [{**asdict(r), **r.summary()} for r in rows]}, ensure_ascii=False))
    else:
        print_tables(rows, header)


if __name__ == "__main__":
    main()
