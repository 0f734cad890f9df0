"""Knowledge bases as a user runs them: `xunshi kb`, `--kb` on every command, the embedded store and a Chroma server."""

import uuid
from pathlib import Path

import pytest

from tests.test_cli import EXAMPLES, one_json, run

GROUP_KB = "2024第一轮巡视"
# A working paper of one inspection group: only its knowledge base holds these words.
WORKING_PAPER = """XX巡视组关于某局问题线索的底稿

一、问题线索
某局下属中心在2023年度的设备采购中，存在化整为零规避公开招标的问题，涉及采购合同十一份，由第三巡视组在个别谈话中发现。

二、处理建议
建议将设备采购问题线索移交纪检监察机关，并督促该局全面清查近三年的采购合同。
"""
QUESTION = "设备采购化整为零规避招标的问题线索是怎么发现的"


@pytest.fixture(scope="module")
def env(e5_model_dir):
    return {"XUNSHI_MODELS_DIR": str(e5_model_dir.parent)}


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("group-docs")
    (folder / "第三巡视组底稿.txt").write_text(WORKING_PAPER, encoding="utf-8")
    return folder


BOTH = pytest.mark.parametrize("deployment", ["embedded", "server"], indirect=True)


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory, env, paper):
    """A home with the sample in ``default`` (ingested as before knowledge bases existed) and the
    working paper in a second knowledge base; once on the embedded store, once on a Chroma server."""
    home = tmp_path_factory.mktemp(f"kb-{request.param}")
    run_env = dict(env)
    if request.param == "server":
        run_env |= {"XUNSHI_CHROMA_URL": request.getfixturevalue("chroma_server"),
                    "XUNSHI_COLLECTION": f"kb-{uuid.uuid4().hex[:8]}"}
    assert run(home, "ingest", str(EXAMPLES), "-q", env=run_env).returncode == 0
    created = run(home, "kb", "create", GROUP_KB, "--description", "第三巡视组底稿", "--json", env=run_env)
    assert created.returncode == 0, created.stderr
    ingested = run(home, "ingest", str(paper), "--kb", GROUP_KB, "--json", env=run_env)
    assert ingested.returncode == 0, ingested.stderr
    assert one_json(ingested.stdout)["documents"] == 1
    return home, run_env


@BOTH
def test_an_existing_store_is_the_default_knowledge_base(deployment):
    home, env = deployment
    listed = one_json(run(home, "kb", "list", "--json", env=env).stdout)
    names = [kb["name"] for kb in listed["knowledge_bases"]]
    assert names == ["default", GROUP_KB]
    default, group = listed["knowledge_bases"]
    assert default["chunks"] > 20 and group["chunks"] >= 1 and group["description"] == "第三巡视组底稿"
    # Today's commands, without --kb, read the default knowledge base only.
    plain = one_json(run(home, "search", "巡视整改", "-k", "3", "--json", env=env).stdout)
    assert plain["results"] and {p["kb"] for p in plain["results"]} == {"default"}
    docs = one_json(run(home, "docs", "list", "--json", env=env).stdout)
    assert docs["count"] == 3 and {d["kb"] for d in docs["documents"]} == {"default"}


@BOTH
def test_each_knowledge_base_is_searched_apart_and_together(deployment):
    home, env = deployment
    alone = one_json(run(home, "search", QUESTION, "-k", "3", "--json", env=env).stdout)
    assert all("化整为零" not in p["text"] for p in alone["results"])
    both = one_json(run(home, "search", QUESTION, "-k", "3", "--kb", "default", "--kb", GROUP_KB, "--json",
                        env=env).stdout)
    assert both["results"][0]["kb"] == GROUP_KB and "化整为零" in both["results"][0]["text"]
    answer = run(home, "ask", QUESTION, "--kb", GROUP_KB, "--json", env=env)
    payload = one_json(answer.stdout)
    assert payload["found"] and {c["kb"] for c in payload["citations"]} == {GROUP_KB}
    assert any("个别谈话" in c["text"] for c in payload["citations"])
    # The access log has it: the system user, the knowledge bases, the question and the document cited.
    entries = one_json(run(home, "audit", "--json", env=env).stdout)["entries"]
    asked = [e for e in entries if e["action"] == "ask"][-1]
    assert asked["via"] == "cli" and asked["kbs"] == [GROUP_KB] and asked["query"] == QUESTION
    assert asked["doc_ids"] == [payload["citations"][0]["doc_id"]] and asked["user"]
    assert [e["action"] for e in entries if e["action"] in ("upload", "kb_create")] == ["upload", "kb_create", "upload"]


@BOTH
def test_unknown_and_bad_names_and_removal(deployment):
    home, env = deployment
    unknown = run(home, "search", "巡视", "--kb", "没有这个库", env=env)
    assert unknown.returncode == 2 and "没有这个库" in unknown.stderr and GROUP_KB in unknown.stderr
    bad = run(home, "kb", "create", "a b", env=env)
    assert bad.returncode == 2 and "spaces" in bad.stderr
    again = run(home, "kb", "create", GROUP_KB, env=env)
    assert again.returncode == 2 and "exists" in again.stderr
    assert run(home, "kb", "remove", "default", "--yes", env=env).returncode == 2
    scratch = "临时库"
    assert run(home, "kb", "create", scratch, env=env).returncode == 0
    unconfirmed = run(home, "kb", "remove", scratch, env=env)  # no terminal to ask on
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    removed = run(home, "kb", "remove", scratch, "--yes", "--json", env=env)
    assert removed.returncode == 0 and one_json(removed.stdout) == {"removed": scratch, "chunks": 0}
    names = [kb["name"] for kb in one_json(run(home, "kb", "list", "--json", env=env).stdout)["knowledge_bases"]]
    assert names == ["default", GROUP_KB]


@pytest.mark.parametrize("deployment", ["embedded"], indirect=True)  # the same code on a server; once is enough
def test_a_reindex_keeps_each_knowledge_base(deployment):
    home, env = deployment
    result = run(home, "reindex", "--full", "--kb", GROUP_KB, "-q", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert one_json(result.stdout)["knowledge_bases"] == [GROUP_KB]
    listed = one_json(run(home, "kb", "list", "--json", env=env).stdout)["knowledge_bases"]
    assert [(kb["name"], kb["description"]) for kb in listed][1] == (GROUP_KB, "第三巡视组底稿")
    found = one_json(run(home, "search", QUESTION, "-k", "1", "--kb", GROUP_KB, "--json", env=env).stdout)
    assert "化整为零" in found["results"][0]["text"]
