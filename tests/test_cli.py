"""The `xunshi` command as a user runs it: a real process, a temp home, the bundled sample."""

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"


def run(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "XUNSHI_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=600,
    )


def one_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-home")


@pytest.fixture(scope="module")
def env(e5_model_dir):
    return {"XUNSHI_MODELS_DIR": str(e5_model_dir.parent)}


@pytest.fixture(scope="module")
def ingested(home, env):
    result = run(home, "ingest", str(EXAMPLES), "--json", env=env)
    assert result.returncode == 0, result.stderr
    return one_json(result.stdout)


def test_ingest_json(ingested):
    assert ingested["added"] == 3 and ingested["failed"] == [] and ingested["documents"] == 3
    assert ingested["chunks"] > 20
    assert set(ingested) >= {"added", "updated", "unchanged", "failed", "documents", "chunks"}


def test_search_json_and_text(home, env, ingested):
    result = run(home, "search", "交叉巡察是怎么组织的", "-k", "3", "--json", env=env)
    assert result.returncode == 0, result.stderr
    payload = one_json(result.stdout)
    assert payload["query"] == "交叉巡察是怎么组织的"
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3]
    for r in payload["results"]:
        assert set(r) >= {"doc_id", "title", "section", "text", "source", "score", "rank"}
    assert any("交叉巡察" in r["text"] for r in payload["results"])
    text = run(home, "search", "巡审联动", "-k", "2", env=env)
    assert text.returncode == 0
    assert " › " in text.stdout and "[0." in text.stdout


def test_docs_list_remove_and_reingest(home, env, ingested):
    listed = one_json(run(home, "docs", "list", "--json").stdout)
    assert listed["count"] == 3 and listed["chunks"] == ingested["chunks"]
    victim = next(d for d in listed["documents"] if d["title"] == "2021年巡视巡察工作综述")
    assert victim["year"] == 2021 and victim["level"] == "省"
    assert victim["date"] is None  # the article names its year, no day or month
    removed = run(home, "docs", "remove", victim["doc_id"])
    assert removed.returncode == 0 and victim["doc_id"] in removed.stdout
    after = one_json(run(home, "docs", "list", "--json").stdout)
    assert after["count"] == 2 and after["chunks"] == ingested["chunks"] - victim["chunks"]
    missing = run(home, "docs", "remove", "nosuchdoc")
    assert missing.returncode == 1 and "nosuchdoc" in missing.stderr
    again = one_json(run(home, "ingest", str(EXAMPLES), "--json", env=env).stdout)
    assert (again["added"], again["unchanged"], again["chunks"]) == (1, 2, ingested["chunks"])


def test_failed_input_exit_code_and_message(tmp_path, env):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(next(EXAMPLES.glob("*.txt")), folder)
    (folder / "损坏.docx").write_bytes(b"PK\x03\x04 this is not really a docx")
    result = run(tmp_path / "home", "ingest", str(folder), "--json", "-q", env=env)
    assert result.returncode == 1
    payload = one_json(result.stdout)
    assert payload["added"] == 3
    assert [Path(f["source"]).name for f in payload["failed"]] == ["损坏.docx"]
    assert "损坏.docx" in result.stderr and "1 file(s) failed" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run(tmp_path, "search").returncode == 2
    assert run(tmp_path, "frobnicate").returncode == 2
    assert run(tmp_path, "search", "x", "--level", "乡").returncode == 2


@pytest.mark.parametrize("args, says", [
    (("search", "  "), "query is empty"),
    (("ask", ""), "question is empty"),
    (("draft", " "), "topic is empty"),
    (("precedents", ""), "query is empty"),
    (("search", "巡察", "-k", "0"), "-k must be 1 or more"),
    (("search", "巡察", "-k", "-3"), "-k must be 1 or more"),
])
def test_meaningless_requests_are_usage_errors(tmp_path, args, says):
    result = run(tmp_path, *args)
    assert result.returncode == 2 and says in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_reading_a_missing_home_or_an_empty_store_says_so(tmp_path, env):
    missing = run(tmp_path / "nowhere", "search", "巡察", "--json", env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and missing.stdout == ""
    assert not (tmp_path / "nowhere").exists()
    assert run(tmp_path / "nowhere", "docs", "list", env=env).returncode == 2
    (tmp_path / "empty").mkdir()
    empty = run(tmp_path / "empty", "ask", "巡审联动怎么开展？", "--json", env=env)
    assert empty.returncode == 2 and "nothing has been ingested yet" in empty.stderr and empty.stdout == ""


def test_missing_model_is_a_clear_error(tmp_path):
    result = run(tmp_path, "search", "巡察", env={"XUNSHI_EMBED_MODEL": "no-org/no-such-model", "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 1
    assert "XUNSHI_EMBED_MODEL" in result.stderr and "Traceback" not in result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "xunshi"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ingest" in result.stdout


def test_eval_json_and_text(home, env, ingested, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in [
        {"q": "“推磨式”交叉巡察", "gold": ["“推磨式”交叉巡察全覆盖"], "doc": "市委近五年巡视巡察工作综述"},
        {"q": "巡审联动", "gold": ["巡审联动"]},
        {"q": "巡审联动", "gold": ["巡审联动"], "doc": "no such document"},
    ]) + "\n", encoding="utf-8")
    negatives = tmp_path / "neg.jsonl"
    negatives.write_text('{"q": "2030年火星基地的预算是多少？"}\n{"q": "今天天气怎么样"}\n', encoding="utf-8")
    result = run(home, "eval", str(qa), "-k", "5", "--negatives", str(negatives), "--json", env=env)
    assert result.returncode == 0, result.stderr
    payload = one_json(result.stdout)
    assert payload["n"] == 3
    for mode in ("lexical", "dense", "hybrid"):
        assert set(payload[mode]) == {"hit@1", "recall@5", "mrr@10"}
    ranks = [item["hybrid_rank"] for item in payload["per_query"]]
    assert [item["q"] for item in payload["per_query"]] == ["“推磨式”交叉巡察", "巡审联动", "巡审联动"]
    assert ranks[0] is not None and ranks[1] is not None and ranks[2] is None  # a wrong doc never counts
    assert payload["hybrid"]["recall@5"] == pytest.approx(2 / 3, abs=1e-3)
    assert payload["separation"]["n_out_of_scope"] == 2 and 0.0 <= payload["separation"]["auc"] <= 1.0

    text = run(home, "eval", str(qa), env=env)
    assert text.returncode == 0, text.stderr
    assert "hybrid" in text.stdout and "recall@5" in text.stdout

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"q": "x", "gold": ["y"]}\nnot json\n', encoding="utf-8")
    bad = run(home, "eval", str(broken), "--json", env=env)
    assert bad.returncode == 1 and f"{broken}:2" in bad.stderr and bad.stdout == ""  # input failed


def test_ask_json_and_history(home, env, ingested, tmp_path):
    result = run(home, "ask", "巡审联动是怎么开展的？", "--json", env=env)
    assert result.returncode == 0, result.stderr
    payload = one_json(result.stdout)
    assert payload["found"] is True and payload["mode"] == "extractive"
    assert set(payload) >= {"question", "answer", "found", "mode", "citations"}
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", payload["answer"])}
    assert numbers == {c["n"] for c in payload["citations"]}
    for c in payload["citations"]:
        assert set(c) >= {"n", "doc_id", "title", "section", "text", "source"}

    refused = one_json(run(home, "ask", "红烧肉怎么做才好吃？", "--json", env=env).stdout)
    assert refused["found"] is False and refused["citations"] == []

    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "巡审联动是怎么开展的？"}], ensure_ascii=False),
                       encoding="utf-8")
    follow = one_json(run(home, "ask", "还有别的做法吗？", "--history", str(history), "--json", env=env).stdout)
    assert "巡审联动" in follow["resolved_question"]

    text = run(home, "ask", "巡审联动是怎么开展的？", env=env)
    assert text.returncode == 0 and "[1]" in text.stdout and " › " in text.stdout

    history.write_text("{not json", encoding="utf-8")
    bad = run(home, "ask", "还有呢？", "--history", str(history), env=env)
    assert bad.returncode == 1 and str(history) in bad.stderr


def test_draft_precedents_terms_json(home, env, ingested):
    draft = one_json(run(home, "draft", "巡视整改", "--length", "300", "--json", env=env).stdout)
    assert draft["topic"] == "巡视整改" and "一是" in draft["draft"] and draft["citations"]
    precedents = run(home, "precedents", "推磨式", "--json", env=env)
    assert precedents.returncode == 0, precedents.stderr
    payload = one_json(precedents.stdout)
    assert payload["matched"] == "term" and payload["count"] >= 1
    group = payload["documents"][0]
    assert set(group) >= {"doc_id", "title", "year", "date", "level", "cases"} and group["cases"][0]["section"]
    terms = one_json(run(home, "terms", "--json", env=env).stdout)
    assert any(t["term"] == "推磨式" and t["kind"] == "practice" for t in terms["terms"])


def test_draft_and_answer_saved_as_word(home, env, ingested, tmp_path):
    from docx import Document

    target = tmp_path / "综述.docx"
    result = run(home, "draft", "巡视整改", "--docx", str(target), "--json", env=env)
    assert result.returncode == 0, result.stderr
    draft = one_json(result.stdout)
    assert draft["docx"] == str(target) and "一是" in draft["draft"]
    paragraphs = [p.text for p in Document(target).paragraphs]
    assert paragraphs[:2] == ["巡视整改", draft["draft"]]
    sources = paragraphs[paragraphs.index("参考材料") + 1:]
    assert [line.split(" ", 1)[0] for line in sources] == [f"[{c['n']}]" for c in draft["citations"]]
    assert all(f"[{c['n']}] {c['title']}" in line for line, c in zip(sources, draft["citations"]))

    # The text output is what it was; the file is named on stderr.
    plain = run(home, "draft", "巡视整改", env=env)
    saved = run(home, "draft", "巡视整改", "--docx", str(tmp_path / "again.docx"), env=env)
    assert saved.returncode == 0 and saved.stdout == plain.stdout
    assert f"saved as Word: {tmp_path / 'again.docx'}" in saved.stderr

    question = "巡审联动是怎么开展的？"
    answer = one_json(run(home, "ask", question, "--docx", str(tmp_path / "答复.docx"), "--json", env=env).stdout)
    paragraphs = [p.text for p in Document(tmp_path / "答复.docx").paragraphs]
    assert answer["docx"] == str(tmp_path / "答复.docx") and paragraphs[:2] == [question, answer["answer"]]
    assert len(paragraphs) == 3 + len(answer["citations"])  # title, answer, 参考材料, one line per source


@pytest.mark.parametrize("name, says", [
    ("missing/综述.docx", "does not exist"),
    ("综述.txt", "give a name ending in .docx"),
    (".", "give a name ending in .docx"),
    ("/sys/综述.docx", "choose a folder you can write to"),  # a folder not even root may write in
])
def test_a_word_file_that_cannot_be_written_is_a_usage_error(home, env, ingested, tmp_path, name, says):
    target = tmp_path / name
    result = run(home, "draft", "巡视整改", "--docx", str(target), "--json", env=env)
    assert result.returncode == 2 and says in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not target.exists() or target.is_dir()


def test_ask_with_a_local_llm_and_without_it(home, env, ingested):
    from llm_server import ScriptedLLM, closed_port

    question = "巡审联动是怎么开展的？"
    search = one_json(run(home, "search", question, "-k", "5", "--json", env=env).stdout)
    n = next(r["rank"] for r in search["results"] if "巡审联动" in r["text"])
    with ScriptedLLM([f"开展“巡审联动”[{n}]。"]) as server:
        llm_env = {**env, "XUNSHI_LLM_BASE_URL": server.base_url, "XUNSHI_LLM_MODEL": "test-model"}
        result = run(home, "ask", question, "--json", env=llm_env)
    assert result.returncode == 0, result.stderr
    payload = one_json(result.stdout)
    assert payload["mode"] == "llm" and payload["answer"] == "开展“巡审联动”[1]。"
    assert server.requests and server.requests[0]["stream"] is True

    down_env = {**env, "XUNSHI_LLM_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1", "XUNSHI_LLM_TIMEOUT": "5"}
    down = run(home, "ask", question, env=down_env)
    assert down.returncode == 0 and "[1]" in down.stdout
    assert "unreachable" in down.stderr and "Traceback" not in down.stderr


OLDER_STORE = """
import sys
import chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
client.delete_collection("xunshi_chunks__sentences")
chunks = client.get_collection("xunshi_chunks")
chunks.modify(metadata={**chunks.metadata, "sentence_index": "none"})
"""


def test_an_index_without_sentence_vectors_is_refused_then_reindexed(tmp_path, env):
    """A home made by an older xunshi: search says what to do, `xunshi reindex` adds the sentence vectors."""
    home = tmp_path / "older"
    assert run(home, "ingest", str(EXAMPLES), "-q", env=env).returncode == 0
    subprocess.run([sys.executable, "-c", OLDER_STORE, str(home / "chroma")], check=True, cwd=ROOT)
    refused = run(home, "search", "交叉巡察", "--json", env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "xunshi reindex" in refused.stderr and "sentence vectors" in refused.stderr
    chunks = one_json(run(home, "docs", "list", "--json", env=env).stdout)["chunks"]
    fixed = run(home, "reindex", "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert one_json(fixed.stdout) == {"reindexed": 0, "sentences_added": chunks, "embed_model": "multilingual-e5-small",
                                     "knowledge_bases": []}
    found = one_json(run(home, "search", "交叉巡察", "--json", env=env).stdout)["results"]
    assert found and all(r["sentence"] and r["sentence"] in r["text"] for r in found)
    again = one_json(run(home, "reindex", "--json", env=env).stdout)
    assert again["sentences_added"] == 0
