"""The steps of install.sh that need more than a shell (standard library only; xunshi's own code for one).

    install_steps.py check --bundle DIR                          this machine and the bundle's files (exit 2: unfit)
    install_steps.py models --bundle DIR --models DIR --home DIR put the model under the data directory
    install_steps.py self-check --bundle DIR --launcher PATH --models DIR
                                                                 ingest the sample, search, ask: a one-line verdict

``check`` runs on the target's Python before anything is installed; ``models`` and ``self-check`` run on the
installed environment's Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFUSED = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install_steps.py")
    steps = parser.add_subparsers(dest="step", required=True)
    check = steps.add_parser("check")
    check.add_argument("--bundle", type=Path, required=True)
    models = steps.add_parser("models")
    models.add_argument("--bundle", type=Path, required=True)
    models.add_argument("--models", type=Path, required=True)
    models.add_argument("--home", type=Path, required=True)
    self_check = steps.add_parser("self-check")
    self_check.add_argument("--bundle", type=Path, required=True)
    self_check.add_argument("--launcher", type=Path, required=True)
    self_check.add_argument("--models", type=Path, required=True)
    args = parser.parse_args(argv)
    manifest = json.loads((args.bundle / "manifest.json").read_text(encoding="utf-8"))
    if args.step == "check":
        return check_machine(manifest) or check_files(args.bundle, manifest)
    if args.step == "models":
        return place_model(args.bundle, manifest, args.models, args.home)
    return run_self_check(args.bundle, manifest, args.launcher, args.models)


def _say(message: str) -> None:
    print(f"install: {message}", file=sys.stderr, flush=True)


def check_machine(manifest: dict) -> int:
    """0 when this machine runs the bundle's wheels; else says why not and returns 2."""
    machine, system = platform.machine(), platform.system()
    wanted = (f"Linux {manifest['machine']} with glibc {manifest['glibc']} or later, CPython {manifest['python']} "
              f"({manifest['python_min']} or later)")
    libc, libc_version = platform.libc_ver()
    problems = []
    if system != "Linux" or machine != manifest["machine"]:
        problems.append(f"this machine is {system} {machine}")
    elif libc != "glibc":
        problems.append("this system's C library is not glibc")
    elif _version(libc_version) < _version(manifest["glibc"]):
        problems.append(f"this system has glibc {libc_version}")
    if sys.implementation.name != "cpython":
        problems.append(f"{sys.executable} is {platform.python_implementation()}, not CPython")
    elif sys.version_info[:2] != _version(manifest["python"]) or sys.version_info[:3] < _version(manifest["python_min"]):
        problems.append(f"{sys.executable} is Python {platform.python_version()}")
    if not problems:
        return 0
    _say(f"this bundle ({manifest['platform']}) is for {wanted}, but {'; '.join(problems)}. "
         "Build a bundle for this machine on a connected one: ./scripts/bundle.sh --platform TAG --python-version X.Y "
         "(README: 在内网机器上安装).")
    return REFUSED


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def check_files(bundle: Path, manifest: dict) -> int:
    """0 when every file of the bundle is there with its hash; else names the missing and damaged ones, returns 2."""
    packages = {w["file"]: f"{w['name']} {w['version']}" for w in manifest["wheels"]}
    _say(f"checking the bundle's {len(manifest['files'])} files against their hashes")
    missing, damaged = [], []
    for rel, digest in manifest["files"].items():
        path = bundle / rel
        if not path.is_file():
            missing.append(rel)
        elif _sha256(path) != digest:
            damaged.append(rel)
    if not missing and not damaged:
        _say("bundle complete and intact")
        return 0
    named = [f"{rel} ({packages[rel]})" if rel in packages else rel for rel in missing + damaged]
    what = "missing" if not damaged else "damaged" if not missing else "missing or damaged"
    _say(f"the bundle is incomplete: {len(named)} file(s) {what}: {', '.join(named[:10])}"
         f"{' …' if len(named) > 10 else ''}. Nothing was installed. Copy the .tar.gz again and extract it whole "
         "(tar xzf xunshi-offline-….tar.gz).")
    return REFUSED


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def place_model(bundle: Path, manifest: dict, models: Path, home: Path) -> int:
    """Put the bundle's model and its query export under ``models``, as xunshi looks for them there.

    An installed model with the same files is kept. Another one is replaced; if an index was built with it,
    say that it must be rebuilt: the model's name is the same, so xunshi cannot tell by itself.
    """
    # xunshi's own: the export is found by this key, which depends on where the model's files lie
    from vectorstore.onnx_query import export_key

    model = manifest["model"]
    target = models / model["name"]
    exports = models / "onnx"
    reindex = False
    if target.is_dir() and _hashes(target) == model["files"]:
        _say(f"model {model['name']} already in {target}, the same files: kept")
    else:
        previous_export = exports / export_key(target) if target.is_dir() else None
        reindex = target.is_dir() and (home / "chroma" / "chroma.sqlite3").exists()
        _replace(bundle / model["dir"], target)
        if previous_export is not None and previous_export.is_dir():
            shutil.rmtree(previous_export)
        _say(f"model {model['name']} installed in {target}")
    export = exports / export_key(target)
    if not (export / "plan.json").is_file():
        _replace(bundle / model["onnx"], export)
        _say(f"query export installed in {export}")
    if reindex:
        _say(f"NOTE: this bundle's {model['name']} differs from the one the index in {home} was built with. "
             f"Rebuild the index before searching: xunshi reindex --full (with XUNSHI_HOME={home}).")
    return 0


def _replace(source: Path, target: Path) -> None:
    """Copy the folder ``source`` to ``target``, replacing it whole (a new copy is renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f".{target.name}.new-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(source, fresh)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def run_self_check(bundle: Path, manifest: dict, launcher: Path, models: Path) -> int:
    """Ingest the sample into a temporary home with the installed model, search and ask it: one line, 0 if all worked."""
    started = time.monotonic()
    questions = manifest["self_check"]
    before = _listing(models)
    with tempfile.TemporaryDirectory(prefix="xunshi-self-check-") as tmp:
        # Only the installed model from the caller's settings: not their Chroma server, LLM or users.
        env = {key: value for key, value in os.environ.items() if not key.startswith("XUNSHI_")}
        env.update(XUNSHI_HOME=str(Path(tmp) / "home"), XUNSHI_MODELS_DIR=str(models))

        def run(*args: str) -> dict:
            done = subprocess.run([str(launcher), *args, "--json"], check=False, capture_output=True, text=True,
                                  env=env)
            if done.returncode != 0:
                raise _SelfCheckFailed(f"xunshi {args[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
            return json.loads(done.stdout)

        try:
            ingested = run("ingest", str(bundle / "sample"))
            if not ingested["documents"] or ingested["failed"]:
                raise _SelfCheckFailed(f"ingest stored {ingested['documents']} documents, failed: {ingested['failed']}")
            found = run("search", questions["search"], "-k", "3")["results"]
            if not found:
                raise _SelfCheckFailed(f"search found nothing for {questions['search']!r}")
            answer = run("ask", questions["ask"])
            if not answer["found"] or not answer["citations"]:
                raise _SelfCheckFailed(f"ask found no answer to {questions['ask']!r}: {answer.get('note')}")
        except _SelfCheckFailed as e:
            print(f"自检未通过 self-check FAILED: {e}")
            return 1
    prepared = "" if _listing(models) == before else " (note: the model was prepared again on this machine)"
    print(f"自检通过 self-check passed in {time.monotonic() - started:.0f} s: ingested {ingested['documents']} "
          f"documents ({ingested['chunks']} passages) of the sample; search and ask answer from "
          f"《{answer['citations'][0]['title']}》{prepared}")
    return 0


class _SelfCheckFailed(Exception):
    pass


def _listing(folder: Path) -> set[tuple[str, int, int]]:
    return {(p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


if __name__ == "__main__":
    sys.exit(main())
