"""Processes that only read load no PyTorch: the query engine is the ONNX export and its tokenizer.

Every command runs as a real process on a real home; what it imported is read from its own
``sys.modules`` at exit (and, for the server, from the libraries mapped into it).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import run_watching_imports
from tests.servers import free_port, wait_for_page, wait_for_port

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
HEAVY = ("torch", "sentence_transformers", "transformers")
NOTICE = "Preparing the query engine"


def traced(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``xunshi ARGS`` as a process: (result, the heavy libraries it imported)."""
    return run_watching_imports(env, HEAVY, *args, timeout=600)


@pytest.fixture(scope="module")
def fresh_models(tmp_path_factory, e5_model_dir):
    """A models folder with the unpacked model (linked, not copied) and no query export yet."""
    models = tmp_path_factory.mktemp("models")
    (models / e5_model_dir.name).symlink_to(e5_model_dir, target_is_directory=True)
    return models


@pytest.fixture(scope="module")
def env(tmp_path_factory, fresh_models):
    home = tmp_path_factory.mktemp("query-home")
    return {"XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(fresh_models)}


@pytest.fixture(scope="module")
def ingested(env, fresh_models):
    result, imported = traced(env, "ingest", str(EXAMPLES), "--json")
    assert result.returncode == 0, result.stderr
    assert "torch" in imported  # passages are embedded by PyTorch
    # The first process that needs the export makes it, once, and says so.
    assert result.stderr.count(NOTICE) == 1
    assert list((fresh_models / "onnx").glob("*/model.onnx"))
    return result


QUERIES = [
    ("search", "交叉巡察是怎么组织的", "-k", "3", "--json"),
    ("ask", "区县之间互相派组去巡察怎么安排的？", "--json"),
    ("draft", "巡视整改", "--json"),
    ("precedents", "提级巡视", "--json"),
    ("terms", "--json"),
    ("docs", "list", "--json"),
]


@pytest.mark.parametrize("args", QUERIES, ids=lambda a: a[0])
def test_reading_commands_load_no_pytorch(env, ingested, args):
    result, imported = traced(env, *args)
    assert result.returncode == 0, result.stderr
    assert imported == [], f"{args[0]} imported {imported}"
    assert NOTICE not in result.stderr
    payload = json.loads(result.stdout)
    if args[0] == "search":
        assert payload["results"] and "交叉巡察" in payload["results"][0]["text"]
    if args[0] == "ask":
        assert payload["found"] and payload["citations"]


def test_eval_loads_no_pytorch(env, ingested, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"q": "巡审联动怎么搞", "gold": ["巡审联动"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    result, imported = traced(env, "eval", str(qa), "--json")
    assert result.returncode == 0, result.stderr
    assert imported == [] and json.loads(result.stdout)["n"] == 1


def test_a_home_without_an_export_makes_it_once_with_a_notice(env, ingested, fresh_models):
    shutil.rmtree(fresh_models / "onnx")
    first, imported = traced(env, "search", "巡察整改台账", "-k", "2", "--json")
    assert first.returncode == 0, first.stderr
    assert NOTICE in first.stderr and "torch" in imported
    again, imported = traced(env, "search", "巡察整改台账", "-k", "2", "--json")
    assert again.returncode == 0 and imported == [] and NOTICE not in again.stderr
    # The same passages either way: the export embeds queries like the model it came from.
    assert json.loads(again.stdout)["results"] == json.loads(first.stdout)["results"]


def test_the_server_answers_without_pytorch(env, ingested, tmp_path):
    from gradio_client import Client

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=ROOT,
                                  env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(server, port, timeout=180, log=log)
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, 60)
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        result = client.predict("交叉巡察是怎么组织的", [], "问答", [], None, None, "全部", api_name="/ask")
        assert "交叉巡察" in json.dumps(result, ensure_ascii=False)
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert "libtorch" not in maps, "the server loaded PyTorch before any upload"
    finally:
        server.terminate()
        server.wait(timeout=30)
