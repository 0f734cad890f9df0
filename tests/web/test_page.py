"""The web chat as a user sees it: `xunshi serve` on a free port, driven by headless Chromium (Debian's
package, through Playwright), plus 8 concurrent sessions through gradio_client.

Every page test records every request the page makes and checks that none leaves this server.
Screenshots go to tests/screenshots/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browsers import SHOTS, Page  # noqa: F401 (SHOTS: where screenshots go)
from conftest import ingest_examples
from docx import Document
from servers import serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
XSS_TEXT = (
    "2022年县委巡察工作台账说明\n\n"
    "建立巡察整改销号台账制度，<script>window.__xss = 1</script>逐项对账销号。"
    "台账样式见<img src=x onerror=\"window.__xss = 2\">附件。\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory, e5_embeddings, e5_model_dir):
    root = tmp_path_factory.mktemp("web")
    settings, store, indexer, folder = ingest_examples(root, e5_embeddings)
    (folder / "台账说明.txt").write_text(XSS_TEXT, encoding="utf-8")
    indexer.ingest([folder])
    # The server's own temp folder and Gradio cache, to check that it leaves no Word file behind.
    (root / "tmp").mkdir()
    env = {"TMPDIR": str(root / "tmp"), "GRADIO_TEMP_DIR": str(root / "tmp" / "gradio")}
    with serving(settings.home, e5_model_dir.parent, root / "serve.log", env) as (url, _):
        yield url
    # Word files the page made (an uploaded .docx may stay in Gradio's upload cache).
    made = [p for p in (root / "tmp").rglob("*.docx") if "参考材料" in [x.text for x in Document(p).paragraphs]]
    assert not made and not list((root / "tmp").glob("xunshi-word-*")), "the server left Word files behind"


@pytest.fixture
def page(browser, server):
    p = Page(browser, server)
    yield p
    p.assert_offline()
    p.close()


def test_ask_cites_and_opens_the_source_panel(page):
    answer = page.ask("交叉巡察是如何组织的？")
    assert "交叉巡察" in answer and "[1]" in answer and "来源" in answer
    page.shot("ask")
    page.page.locator("#sources label").first.click()
    page.page.wait_for_function("document.querySelector('#source-panel').innerText.includes('[1]')", timeout=30_000)
    panel = page.page.locator("#source-panel")
    assert panel.locator("h3").inner_text().startswith("[1] ")
    assert panel.locator("mark").count() >= 1  # the cited sentence is highlighted
    assert panel.locator(".context").count() >= 1  # shown in its surrounding text
    page.shot("source-panel")


def test_not_found_looks_different_and_follow_up_uses_the_conversation(page):
    refused = page.ask("红烧肉怎么做才好吃？")
    assert "未找到" in refused
    assert page.page.locator("#chat .not-found").count() == 1
    page.ask("巡审联动是怎么开展的？")
    follow = page.ask("还有别的做法吗？")
    assert "[1]" in follow
    page.shot("not-found-and-follow-up")


def test_draft_mode_gives_a_paragraph_to_copy(page):
    page.page.get_by_label("起草").check()
    page.ask("巡视整改")
    draft = page.page.locator("#draft textarea").input_value()
    assert draft.startswith("围绕巡视整改") and "一是" in draft and "[1]" in draft
    page.shot("draft")


def download_word(page, button: str, to: Path) -> tuple[str, list[str]]:
    """Click a download button of the page: (the file name offered, the paragraphs of the file)."""
    locator = page.page.locator(f"#{button}")
    locator.wait_for(state="visible", timeout=30_000)
    with page.page.expect_download(timeout=30_000) as info:
        locator.click()
    info.value.save_as(to)
    return info.value.suggested_filename, [p.text for p in Document(to).paragraphs]


def test_draft_and_answer_download_as_word(page, tmp_path):
    page.page.get_by_label("起草").check()
    chat = page.ask("巡视整改")
    draft = page.page.locator("#draft textarea").input_value()
    name, paragraphs = download_word(page, "draft-docx", tmp_path / "draft.docx")
    assert name == "巡视整改.docx" and paragraphs[:2] == ["巡视整改", draft]
    sources = paragraphs[paragraphs.index("参考材料") + 1:]
    assert sources and len(sources) == len(re.findall(r"^\[\d+\] ", chat, re.MULTILINE))
    for line in sources:  # the sources as the chat lists them: [n] title
        number, title = re.match(r"(\[\d+\]) (.+?)，", line).groups()
        assert f"{number} {title}" in chat
    assert page.page.locator("#answer-docx").is_hidden()
    page.shot("draft-word")

    page.page.get_by_label("问答").check()
    question = "交叉巡察是如何组织的？"
    chat = page.ask(question)
    name, paragraphs = download_word(page, "answer-docx", tmp_path / "answer.docx")
    assert name == "交叉巡察是如何组织的.docx" and paragraphs[0] == question
    assert "[1]" in paragraphs[1] and paragraphs[1] in chat.replace("\n", "")
    assert paragraphs[paragraphs.index("参考材料") + 1].startswith("[1] ")
    assert page.page.locator("#draft-docx").is_hidden()
    page.ask("红烧肉怎么做才好吃？")  # nothing found, nothing to save
    page.page.locator("#answer-docx").wait_for(state="hidden", timeout=30_000)


def test_precedents_mode_groups_by_document(page):
    page.page.get_by_label("查先例").check()
    text = page.ask("推磨式")
    assert "■ 市委近五年巡视巡察工作综述" in text and "[1]" in text
    assert "提级“推磨式”交叉巡察全覆盖" in text  # each case shows the sentence that matched
    page.page.locator("#sources label").first.click()
    page.page.wait_for_function("document.querySelector('#source-panel mark') !== null", timeout=30_000)
    assert "推磨式" in page.page.locator("#source-panel mark").first.inner_text()
    page.shot("precedents")


def test_markup_in_a_document_is_shown_not_run(page):
    text = page.ask("巡察整改销号台账制度")
    assert "<script>" in text or "onerror" in text, text  # shown as text
    page.page.locator("#sources label").first.click()
    page.page.wait_for_function("document.querySelector('#source-panel').innerText.includes('台账')", timeout=30_000)
    assert "<script>window.__xss = 1</script>" in page.page.locator("#source-panel").inner_text()
    assert page.page.evaluate("window.__xss") is None
    assert page.page.locator("#chat img, #source-panel img, #chat script, #source-panel script").count() == 0
    page.shot("markup-shown")


def test_upload_list_and_delete_a_docx(page, tmp_path):
    docx_path = tmp_path / "2023年市委巡察工作要点.docx"
    doc = Document()
    doc.add_heading("2023年市委巡察工作要点", level=1)
    doc.add_paragraph("全面推行“三色督办”机制，对整改滞后的单位分级亮灯。")
    doc.save(docx_path)
    broken = tmp_path / "损坏的报告.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    page.page.get_by_role("tab", name="知识库").click()
    page.page.locator("#upload input[type=file]").set_input_files([str(docx_path), str(broken)])
    page.page.wait_for_timeout(1000)
    page.page.click("#ingest")
    page.page.wait_for_function("document.querySelector('#ingest-log').innerText.includes('✓')", timeout=90_000)
    page.page.wait_for_function("document.querySelector('#ingest-log').innerText.includes('✗')", timeout=30_000)
    log = page.page.locator("#ingest-log").inner_text()
    assert "✓ 2023年市委巡察工作要点.docx" in log and "✗ 损坏的报告.pdf：" in log  # one line per file, with the reason
    page.page.wait_for_function(
        "document.querySelector('#docs-table').innerText.includes('2023年市委巡察工作要点')", timeout=30_000)
    assert page.page.locator("#delete-pick input").input_value() == ""  # nothing is pre-selected for deletion
    page.page.wait_for_timeout(1500)
    page.shot("knowledge-base")

    # Delete, with confirmation.
    pick = page.page.locator("#delete-pick input")
    pick.click()
    page.page.get_by_role("option", name="2023年市委巡察工作要点", exact=False).first.click()
    page.page.click("#delete")
    page.page.wait_for_function("document.querySelector('#ingest-log').innerText.includes('确认删除')", timeout=30_000)
    assert "2023年市委巡察工作要点" in page.page.locator("#docs-table").inner_text()  # not deleted unconfirmed
    page.page.locator("#delete-confirm input").check()
    page.page.click("#delete")
    page.page.wait_for_function("document.querySelector('#ingest-log').innerText.includes('已删除')", timeout=30_000)
    page.page.wait_for_function(
        "!document.querySelector('#docs-table').innerText.includes('2023年市委巡察工作要点')", timeout=30_000)


def test_picking_a_named_practice_searches_its_precedents(page):
    page.page.get_by_text("提法与文件（点击查先例）").click()
    page.page.locator("#terms input").click()
    page.page.get_by_role("option", name="推磨式", exact=True).click()
    from playwright.sync_api import expect

    expect(page.page.locator("#question textarea")).to_have_value("推磨式", timeout=30_000)
    expect(page.page.get_by_label("查先例")).to_be_checked(timeout=30_000)
    page.page.click("#send")
    page.page.wait_for_function("document.querySelector('#chat').innerText.includes('■')", timeout=60_000)


def test_status_tab(page):
    page.page.get_by_role("tab", name="状态").click()
    status = page.page.locator("#status").inner_text()
    assert "multilingual-e5-small" in status and "未配置" in status and "文档" in status


def test_two_browsers_keep_their_own_conversation_and_filters(browser, server):
    a, b = Page(browser, server), Page(browser, server)
    try:
        a.ask("巡审联动是怎么开展的？")
        a.page.get_by_text("筛选", exact=True).click()
        a.page.locator("#level input").click()
        a.page.get_by_role("option", name="省", exact=True).click()
        b.page.reload()
        b.page.wait_for_selector("#question textarea")
        b.page.get_by_text("筛选", exact=True).click()
        assert b.page.locator("#chat .message").count() == 0
        assert b.page.locator("#level input").input_value() == "全部"
        assert a.page.locator("#level input").input_value() == "省"
        b.ask("涉粮问题专项巡视延伸巡视巡察了多少个县？")
        chat_a = a.page.locator("#chat").inner_text()
        assert "涉粮" not in chat_a.split("巡审联动是怎么开展的？")[0]
        assert b.page.locator("#chat").inner_text().count("巡审联动是怎么开展的？") == 0
        a.assert_offline()
        b.assert_offline()
    finally:
        a.close()
        b.close()


def test_eight_concurrent_sessions_get_their_own_answers(server):
    from gradio_client import Client

    questions = {
        "巡审联动是怎么开展的？": "巡审联动",
        "“推磨式”交叉巡察是怎么开展的？": "推磨式",
        "涉粮问题专项巡视延伸巡视巡察了多少个县？": "涉粮",
        "巡视整改“双反馈”“双通报”“双公开”是怎么搞的？": "双",
        "什么是巡视巡察“一体两翼”监督格局？": "一体两翼",
        "“点穴式”巡视是对谁开展的？": "点穴式",
        "巡视前的“备课”工作怎么做？": "备课",
        "红烧肉怎么做才好吃？": "未找到",
    }

    def ask(question: str) -> tuple[str, list]:
        client = Client(server, verbose=False, analytics_enabled=False, download_files=False)
        result = client.predict(question, [], "问答", [], None, None, "全部", api_name="/ask")
        return question, result[0]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, questions))
    for question, chat in results:
        assert [m["role"] for m in chat] == ["user", "assistant"], chat
        assert chat[0]["content"] == question or question in str(chat[0]["content"])
        assert questions[question] in str(chat[1]["content"]), (question, chat[1])


def test_serve_refuses_a_public_address_without_users_and_the_old_logins(tmp_path):
    def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "assistant", "--home", str(tmp_path), "serve", *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, **env})

    public = serve("--host", "0.0.0.0")
    assert public.returncode == 2 and "xunshi users add" in public.stderr
    old = serve(XUNSHI_AUTH="zhang:" + "0" * 64)
    assert old.returncode == 2 and "XUNSHI_AUTH" in old.stderr and "xunshi users add" in old.stderr
