"""Who sees what on the page: users with different rights on one server, in two browsers and through the API.

`xunshi serve` on a free port with a users file: ``alice`` may read ``default`` (the sample),
``bob`` the inspection group's working papers, ``boss`` is an administrator, ``carol`` is used up
by the failed-login test. Everything is driven as a user would: Debian's Chromium through
Playwright, and gradio_client for the page's API.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from browsers import SHOTS, Page, login
from conftest import ingest_examples
from servers import serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
GROUP_KB = "巡视组底稿"
PAPER_TITLE = "第三巡视组关于某局问题线索的底稿"
PAPER = f"""{PAPER_TITLE}

一、问题线索
某局下属中心在2023年度的设备采购中，存在化整为零规避公开招标的问题，涉及采购合同十一份，由第三巡视组在个别谈话中发现。

二、处理建议
建议将设备采购问题线索移交纪检监察机关，并督促该局全面清查近三年的采购合同。
"""
QUESTION = "设备采购化整为零规避招标的问题线索是怎么发现的？"
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-22", "boss": "boss-pass-333", "carol": "carol-pass-4444"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, e5_embeddings, e5_model_dir):
    from assistant.kbs import create_kb
    from assistant.services import build_chroma_client, build_indexer, build_store
    from assistant.users import UserStore

    root = tmp_path_factory.mktemp("access")
    settings, _, _, _ = ingest_examples(root, e5_embeddings)
    client = build_chroma_client(settings)
    create_kb(settings, GROUP_KB, "第三巡视组", client)
    papers = root / "papers"
    papers.mkdir()
    (papers / "底稿.txt").write_text(PAPER, encoding="utf-8")
    store = build_store(settings, client, e5_embeddings, kb=GROUP_KB)
    build_indexer(settings, store, e5_embeddings, show_progress=False).ingest([papers])
    del client, store
    users = UserStore(settings.users_path)
    for name, password in PASSWORDS.items():
        users.add(name, password, admin=name == "boss")
    users.grant("alice", "default", "read")
    users.grant("bob", GROUP_KB, "write")
    users.grant("carol", "default", "read")

    with serving(settings.home, e5_model_dir.parent, root / "serve.log") as (url, env):
        yield url, settings.home, env


def signed_in(user: str, password: str | None = None):
    """Log in as ``user`` when the page opens."""
    return lambda page: login(page, user, password or PASSWORDS[user])


def LoggedIn(browser, url: str, user: str) -> Page:
    """A browser context of its own, logged in as ``user``."""
    return Page(browser, url, signed_in(user))


def documents_shown(page: Page) -> str:
    page.page.get_by_role("tab", name="知识库").click()
    page.page.wait_for_function("document.querySelector('#docs-table').innerText.includes('.txt')", timeout=30_000)
    return page.page.locator("#docs-table").inner_text()


def test_the_page_asks_for_a_login_on_loopback_too(server):
    import urllib.error
    import urllib.request

    url, _, _ = server
    for path in ("config", "gradio_api/info"):  # the page's layout and its API: nothing before a login
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=30)
        assert refused.value.code == 401, path


def test_two_users_see_only_their_own_knowledge_bases(browser, server):
    url, _, _ = server
    alice, bob = LoggedIn(browser, url, "alice"), LoggedIn(browser, url, "bob")
    try:
        answer_bob = bob.ask(QUESTION)
        assert "个别谈话" in answer_bob and PAPER_TITLE in answer_bob  # cited, with its title
        answer_alice = alice.ask(QUESTION)
        assert "个别谈话" not in answer_alice and PAPER_TITLE not in answer_alice
        # The knowledge base picker offers each their own.
        alice.page.locator("#kb-pick input").click()
        options = alice.page.get_by_role("option").all_inner_texts()
        assert options == ["default"], options
        alice.page.keyboard.press("Escape")
        bob.page.locator("#kb-pick input").click()
        assert bob.page.get_by_role("option").all_inner_texts() == [GROUP_KB]
        bob.page.keyboard.press("Escape")
        # The documents, and the counts on the status tab.
        shown_alice, shown_bob = documents_shown(alice), documents_shown(bob)
        assert "底稿.txt" not in shown_alice and "巡视巡察工作综述" in shown_alice
        assert "底稿.txt" in shown_bob and "巡视巡察工作综述" not in shown_bob
        alice.page.get_by_role("tab", name="状态").click()
        status = alice.page.locator("#status").inner_text()
        assert "alice" in status and GROUP_KB not in status and "文档：3 篇" in status.replace("**", "")
        # bob may write his knowledge base: he is offered the upload; alice is not.
        assert bob.page.locator("#upload-kb").is_visible() and alice.page.locator("#upload-kb").is_hidden()
        assert alice.page.locator("#kb-admin").is_hidden()
        alice.shot("access-alice")
        bob.shot("access-bob")
        alice.assert_offline()
        bob.assert_offline()
    finally:
        alice.close()
        bob.close()


def test_the_api_gives_nothing_from_a_knowledge_base_the_user_may_not_read(server):
    from gradio_client import Client

    url, _, _ = server

    def ask(user: str, kbs: list[str]) -> str:
        client = Client(url, auth=(user, PASSWORDS[user]), verbose=False, analytics_enabled=False,
                        download_files=False)
        result = client.predict(QUESTION, [], "问答", [], None, None, "全部", kbs, api_name="/ask")
        return json.dumps(result, ensure_ascii=False)

    for kbs in ([GROUP_KB], [GROUP_KB, "default"], []):  # named outright, beside her own, or all of hers
        said = ask("alice", kbs)
        assert "个别谈话" not in said and PAPER_TITLE not in said and "底稿" not in said, (kbs, said)
    refused = ask("alice", [GROUP_KB])
    assert "不存在或您无权查阅" in refused
    # The same words for a knowledge base that does not exist: no count, no hint of either.
    assert "不存在或您无权查阅" in ask("alice", ["没有这个库"])
    assert "个别谈话" in ask("bob", [GROUP_KB])
    asked = [e for e in audit_entries(server[2]) if e["action"] == "ask" and e["via"] == "page"]
    assert {e["user"] for e in asked} >= {"alice", "bob"}
    bob_asked = [e for e in asked if e["user"] == "bob"][-1]
    assert bob_asked["kbs"] == [GROUP_KB] and bob_asked["query"] == QUESTION and len(bob_asked["doc_ids"]) == 1
    paper = bob_asked["doc_ids"][0]
    assert all(paper not in e["doc_ids"] for e in asked if e["user"] == "alice")  # the paper never cited to her
    with pytest.raises(Exception):  # noqa: B017 — no login, no API (gradio_client's own error type varies)
        Client(url, verbose=False, analytics_enabled=False).predict(QUESTION, [], "问答", [], None, None, "全部", [],
                                                                    api_name="/ask")


def test_the_admin_creates_and_removes_a_knowledge_base_from_the_page(browser, server):
    url, _, env = server

    def listed() -> dict:
        result = subprocess.run([sys.executable, "-m", "assistant", "kb", "list", "--json"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120, check=True)
        return {kb["name"]: kb for kb in json.loads(result.stdout)["knowledge_bases"]}

    boss = LoggedIn(browser, url, "boss")
    try:
        boss.page.get_by_role("tab", name="知识库").click()
        boss.page.get_by_text("新建、删除知识库（管理员）").click()
        boss.page.locator("#new-kb-name textarea, #new-kb-name input").first.fill("2025年专项巡视")
        boss.page.locator("#new-kb-description textarea, #new-kb-description input").first.fill("专项巡视材料")
        boss.page.click("#create-kb")
        boss.page.wait_for_function("document.querySelector('#create-kb-log').innerText.includes('已新建')",
                                    timeout=30_000)
        boss.page.wait_for_function("document.querySelector('#kb-listing').innerText.includes('2025年专项巡视')",
                                    timeout=30_000)
        boss.shot("admin-created-kb")
        assert listed()["2025年专项巡视"]["description"] == "专项巡视材料"
        # And removes it again, once confirmed.
        boss.page.locator("#remove-kb-pick input").click()
        boss.page.get_by_role("option", name="2025年专项巡视", exact=True).click()
        boss.page.click("#remove-kb")
        boss.page.wait_for_function("document.querySelector('#create-kb-log').innerText.includes('确认删除知识库')",
                                    timeout=30_000)
        assert "2025年专项巡视" in listed()  # not removed unconfirmed
        boss.page.locator("#remove-kb-confirm input").check()
        boss.page.click("#remove-kb")
        boss.page.wait_for_function("document.querySelector('#create-kb-log').innerText.includes('已删除知识库')",
                                    timeout=30_000)
        assert "2025年专项巡视" not in listed() and GROUP_KB in listed()
    finally:
        boss.close()


def test_a_wrong_password_is_refused_then_rate_limited_and_logged(browser, server):
    url, _, env = server
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(url)
    try:
        for attempt in range(5):
            login(page, "carol", f"wrong-{attempt}")
            page.get_by_text("凭据不正确").wait_for(timeout=30_000)
            page.reload()
        # The right password now waits too: the page stays on its login form.
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as info:
            login(page, "carol", PASSWORDS["carol"])
        assert info.value.status == 429 and "秒后再试" in info.value.text()
        page.wait_for_timeout(1000)
        assert page.locator("#question").count() == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "login-rate-limited.png"))
    finally:
        context.close()
    failed = [e for e in audit_entries(env) if e["action"] == "login_failed" and e["user"] == "carol"]
    assert len(failed) == 6 and all(e["address"] == "127.0.0.1" for e in failed)


def audit_entries(env: dict) -> list[dict]:
    """The access log as `xunshi audit --json` prints it."""
    result = subprocess.run([sys.executable, "-m", "assistant", "audit", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["entries"]
