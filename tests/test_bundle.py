"""The offline bundle (README "在内网机器上安装"): built here by scripts/bundle.sh, then extracted, installed and
used inside a network namespace that has nothing but loopback, as on an air-gapped machine; and the refusals:
a bundle for another Python or machine, a bundle missing a wheel, a target some dependency has no wheel for."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bundle_wheels import Missing, Pin, Target, missing_report, read_lock

TESTS = Path(__file__).parent
DOCUMENT = """关于县农业农村局巡察整改情况的通报

2023年4月至6月，县委第三巡察组对县农业农村局党组开展了常规巡察，反馈问题28个，移交问题线索12条。

一、整改工作的组织
县农业农村局党组成立整改工作领导小组，党组书记任组长，建立问题、任务、责任“三张清单”，实行整改台账销号管理，每月召开一次整改推进会。

二、整改成效
截至2023年12月底，反馈的28个问题已全部完成整改，建立完善制度9项，追回违规发放的补贴资金46.3万元，给予党纪政务处分3人。
"""
# Run inside the namespace: the page must answer on 127.0.0.1 while nothing else can be reached.
SERVE_AND_FETCH = """
import subprocess, socket, sys
sys.path.insert(0, sys.argv[1])
from servers import free_port, wait_for_page
try:
    socket.create_connection(("1.1.1.1", 53), timeout=5).close()
    print("REACHED the network")
except OSError as e:
    print(f"no network: {e}")
port = free_port()
with open(sys.argv[3], "w") as log:
    server = subprocess.Popen([sys.argv[2], "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
try:
    wait_for_page(f"http://127.0.0.1:{port}/", 180)
    print("HTTP 200")
finally:
    server.terminate()
    server.wait(timeout=30)
"""


def offline(*command: str | Path, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``command`` in a new network namespace whose only interface is loopback (brought up first)."""
    return subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "offline",
                           *map(str, command)], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def network_namespace() -> None:
    """Fails, never skips, where no network namespace can be made: the test would prove nothing."""
    try:
        done = subprocess.run(["unshare", "--net", "ip", "-o", "link"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError as e:
        pytest.fail(f"the offline install test needs unshare and ip (util-linux, iproute2): {e}")
    if done.returncode != 0:
        pytest.fail("the offline install test needs a network namespace (`unshare --net`, as root, as in CI): "
                    + done.stderr.strip())
    interfaces = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    assert interfaces == ["lo"], done.stdout


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Iterator[Path]:
    """One bundle for this machine, built by scripts/bundle.sh and extracted: its folder (removed afterwards:
    with the installation it is some 4 GB)."""
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "BUNDLE_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "bundle.sh"), "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-5000:]
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 1 and written[0].startswith("xunshi-offline-0.1.0-manylinux_2_28_"), written
    locked = len(read_lock(ROOT / "requirements.lock"))
    assert f"wheels   {locked} dependencies" in done.stdout and "model    multilingual-e5-small" in done.stdout, \
        done.stdout
    extracted = tmp_path_factory.mktemp("carried-in")
    subprocess.run(["tar", "xzf", str(out / written[0]), "-C", str(extracted)], check=True, timeout=600)
    (out / written[0]).unlink()
    yield extracted / written[0].removesuffix(".tar.gz")
    shutil.rmtree(extracted, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(bundle, network_namespace, tmp_path_factory) -> Iterator[dict]:
    """The bundle installed with no network, and one document ingested into its data directory."""
    place = tmp_path_factory.mktemp("target")
    prefix, home = place / "prefix", place / "data"
    done = offline(bundle / "install.sh", "--prefix", prefix, "--home", home, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]
    docs = place / "docs"
    docs.mkdir()
    (docs / "县农业农村局巡察整改情况通报.txt").write_text(DOCUMENT, encoding="utf-8")
    ingest = offline(prefix / "bin" / "xunshi", "ingest", docs, "--json", timeout=600)
    assert ingest.returncode == 0, ingest.stderr
    yield {"prefix": prefix, "home": home, "install": done, "ingest": ingest, "launcher": prefix / "bin" / "xunshi"}
    shutil.rmtree(place, ignore_errors=True)


@pytest.mark.slow
def test_the_bundle_installs_and_runs_with_no_network(installed):
    verdict = installed["install"].stdout.strip().splitlines()[-1]
    assert verdict.startswith("自检通过 self-check passed"), installed["install"].stdout
    assert "prepared again" not in verdict
    assert json.loads(installed["ingest"].stdout)["documents"] == 1
    # The model was unpacked and exported when the bundle was made: first use here does neither.
    assert "Unpacking" not in installed["ingest"].stderr and "Preparing the query engine" not in installed["ingest"].stderr
    launcher = installed["launcher"]
    search = offline(launcher, "search", "整改台账销号管理", "-k", "3", "--json", timeout=300)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["results"][0]["title"] == "关于县农业农村局巡察整改情况的通报"
    ask = offline(launcher, "ask", "县农业农村局的巡察整改是怎么组织的？", "--json", timeout=300)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["found"] and answer["citations"][0]["title"] == "关于县农业农村局巡察整改情况的通报"
    log = installed["home"].parent / "serve.log"
    page = offline(sys.executable, "-c", SERVE_AND_FETCH, TESTS, launcher, log, timeout=400)
    assert page.returncode == 0, page.stderr + log.read_text()
    assert "no network:" in page.stdout and "HTTP 200" in page.stdout, page.stdout


@pytest.mark.slow
def test_installing_again_or_a_bundle_with_another_model_keeps_the_documents(installed, bundle, tmp_path):
    launcher, home = installed["launcher"], installed["home"]
    again = offline(bundle / "install.sh", "--prefix", installed["prefix"], "--home", home, "--no-self-check",
                    timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "the same files: kept" in again.stderr and "reindex" not in again.stderr
    # A newer bundle whose model differs (one of its files changed, and the manifest with it).
    newer = _copy(bundle, tmp_path / "newer")
    changed = newer / "models" / "multilingual-e5-small" / "sentence_bert_config.json"
    _rewrite(changed, changed.read_text(encoding="utf-8") + "\n")
    manifest = json.loads((newer / "manifest.json").read_text(encoding="utf-8"))
    digest = _sha256(changed)
    manifest["model"]["files"]["sentence_bert_config.json"] = digest
    manifest["files"]["models/multilingual-e5-small/sentence_bert_config.json"] = digest
    _rewrite(newer / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    upgrade = offline(newer / "install.sh", "--prefix", installed["prefix"], "--home", home, "--no-self-check",
                      timeout=1200)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    assert "upgrading" in upgrade.stderr and "xunshi reindex --full" in upgrade.stderr, upgrade.stderr
    listed = offline(launcher, "docs", "list", "--json", timeout=300)
    assert [d["title"] for d in json.loads(listed.stdout)["documents"]] == ["关于县农业农村局巡察整改情况的通报"]
    assert (home / "models" / "multilingual-e5-small" / "sentence_bert_config.json").read_text(
        encoding="utf-8").endswith("\n\n")


@pytest.mark.slow
@pytest.mark.parametrize(("field", "value", "words"), [
    ("python", "3.12", ["this bundle is for Python 3.12", f"{sys.executable} is Python 3.11", "--python-version 3.11"]),
    ("machine", "aarch64", ["Linux aarch64", "this machine is Linux x86_64"]),
    ("glibc", "2.99", ["glibc 2.99 or later", "this system has glibc"]),
])
def test_install_refuses_a_bundle_for_another_python_or_machine(bundle, tmp_path, field, value, words):
    other = _copy(bundle, tmp_path / "other")
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    manifest[field] = value
    _rewrite(other / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    # The Python is named: whether this machine has a python3.12 of its own does not matter.
    done = subprocess.run([str(other / "install.sh"), "--python", sys.executable, "--prefix", str(tmp_path / "prefix"),
                           "--home", str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    for word in words:
        assert word in done.stderr
    assert not (tmp_path / "prefix").exists() and not (tmp_path / "data").exists()


@pytest.mark.slow
def test_install_names_a_missing_wheel(bundle, tmp_path):
    broken = _copy(bundle, tmp_path / "broken")
    (jieba,) = (broken / "wheels").glob("jieba-*.whl")
    jieba.unlink()
    done = subprocess.run([str(broken / "install.sh"), "--prefix", str(tmp_path / "prefix"), "--home",
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"wheels/{jieba.name} (jieba 0.42.1)" in done.stderr and "incomplete" in done.stderr
    assert not (tmp_path / "prefix").exists()


@pytest.mark.slow
def test_bundle_names_every_dependency_with_no_wheel_for_the_target(tmp_path):
    """A real pip against the real indexes: riscv64 with glibc 2.28 has no PyYAML and no xxhash (whose riscv64
    wheel needs glibc 2.31); six is pure Python and jieba, an sdist only, is built here as a pure wheel."""
    wanted = {"six", "jieba", "pyyaml", "xxhash"}
    lock = tmp_path / "small.lock"
    lock.write_text("".join(pin.requirement_line() + "\n" for pin in read_lock(ROOT / "requirements.lock")
                            if pin.name in wanted), encoding="utf-8")
    out = tmp_path / "dist"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bundle.py"), "--lock", str(lock), "--out", str(out),
                           "--platform", "manylinux_2_28_riscv64", "--python-version", "3.11"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    report = done.stderr
    lines = [" ".join(line.split()) for line in report.splitlines()]
    assert "bundle: 2 of the 4 locked dependencies have no wheel for CPython 3.11 on Linux riscv64 with glibc 2.28 " \
           "or later (manylinux_2_28_riscv64):" in lines, report
    assert any(line.startswith("pyyaml 6.0.4 no wheel for manylinux_2_28_riscv64; it has wheels for other machines "
                               "only: ") and "x86_64" in line for line in lines), report
    assert any(line.startswith("xxhash 4.1.0 no wheel for manylinux_2_28_riscv64; it has wheels for "
                               "manylinux_2_31_riscv64") for line in lines), report
    assert "jieba" not in report and "six" not in report
    assert "Nothing was written." in report and not out.exists()


def test_missing_report_suggests_the_glibc_that_has_every_wheel():
    target = Target.parse("manylinux2014_aarch64", "3.11")
    onnxruntime = Missing(Pin("onnxruntime", "1.32.0", ("sha256:0",)), "no wheel for manylinux2014_aarch64",
                          ["manylinux_2_27_x86_64", "manylinux_2_28_aarch64", "manylinux_2_28_x86_64"])
    numpy = Missing(Pin("numpy", "2.4.6", ("sha256:0",)), "no wheel for manylinux2014_aarch64",
                    ["manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "musllinux_1_2_aarch64"])
    torch = Missing(Pin("torch", "2.13.0+cpu", ("sha256:0",)), "no wheel for manylinux2014_aarch64",
                    ["manylinux_2_28_x86_64"])
    both = missing_report([onnxruntime, numpy], target, 155)
    assert both.splitlines()[0] == ("2 of the 155 locked dependencies have no wheel for CPython 3.11 on Linux aarch64 "
                                    "with glibc 2.17 or later (manylinux2014_aarch64):")
    assert "All of them have wheels for --platform manylinux_2_28_aarch64" in both
    three = missing_report([onnxruntime, numpy, torch], target, 155)
    lines = [" ".join(line.split()) for line in three.splitlines()]
    assert "torch 2.13.0+cpu no wheel for manylinux2014_aarch64; it has wheels for other machines only: x86_64" in lines
    assert "all of them would have wheels but torch 2.13.0+cpu." in three


def test_target_platforms_reach_back_to_the_oldest_manylinux_of_the_architecture():
    assert Target.parse("manylinux2014_aarch64", "3.11").pip_platforms() == ["manylinux_2_17_aarch64",
                                                                            "manylinux2014_aarch64"]
    x86 = Target.parse("manylinux_2_28_x86_64", "3.11").pip_platforms()
    assert x86[0] == "manylinux_2_28_x86_64" and {"manylinux2014_x86_64", "manylinux1_x86_64"} <= set(x86)
    assert "manylinux_2_29_x86_64" not in x86


def _copy(bundle: Path, to: Path) -> Path:
    """A copy of the extracted bundle made of hard links (cheap); change files with ``_rewrite`` only."""
    subprocess.run(["cp", "-al", str(bundle), str(to)], check=True)
    return to


def _rewrite(path: Path, text: str) -> None:
    """Replace a file of a hard-linked copy without touching the original."""
    path.unlink()
    path.write_text(text, encoding="utf-8")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()

