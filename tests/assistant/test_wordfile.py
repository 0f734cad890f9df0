"""Drafts and answers saved as Word files: real drafts and answers on the sample (and a real PDF for
page numbers), read back with python-docx; the LibreOffice test converts the file to PDF and reads it."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt

from assistant.answer import Answerer
from assistant.draft import write_draft
from assistant.llm import build_chat_model
from assistant.services import build_retriever, load_prompts
from assistant.settings import Settings
from assistant.wordfile import (BODY_FONT, SOURCES_HEADING, TITLE_FONT, check_target, save_word, source_line,
                                word_filename)
from conftest import ingest_examples
from ingest.errors import UsageError
from llm_server import ScriptedLLM

PDF = Path(__file__).parents[1] / "data" / "jubao_templates.pdf"
OFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="module")
def kb(tmp_path_factory, e5_embeddings):
    settings, store, indexer, folder = ingest_examples(tmp_path_factory.mktemp("word"), e5_embeddings)
    shutil.copy(PDF, folder / PDF.name)
    indexer.ingest([folder])
    return settings, build_retriever(settings, store, e5_embeddings)


@pytest.fixture(scope="module")
def answerer(kb, e5_embeddings):
    settings, retriever = kb
    return Answerer(retriever, e5_embeddings, settings.relevance_threshold, None, load_prompts())


def east_asian_font(run) -> str | None:
    fonts = run._r.rPr.find(qn("w:rFonts"))
    return None if fonts is None else fonts.get(qn("w:eastAsia"))


def text_of(doc) -> list[str]:
    return [p.text for p in doc.paragraphs]


def sources_of(doc) -> list[str]:
    texts = text_of(doc)
    return texts[texts.index(SOURCES_HEADING) + 1:]


def test_draft_as_word_in_the_official_layout(answerer, tmp_path):
    draft = write_draft(answerer, "巡视整改", length=300)
    assert draft.found and len(draft.citations) >= 2
    path = save_word(tmp_path / "综述.docx", draft.topic, draft.draft, draft.citations)
    assert path == tmp_path / "综述.docx" and sorted(p.name for p in tmp_path.iterdir()) == ["综述.docx"]
    doc = Document(path)

    title = doc.paragraphs[0]
    assert title.text == "巡视整改" and title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert all(r.bold and r.font.size == Pt(22) and east_asian_font(r) == TITLE_FONT for r in title.runs)

    body = doc.paragraphs[1]
    assert body.text == draft.draft  # the paragraph as drafted, [n] marks included
    fmt = body.paragraph_format
    assert fmt.line_spacing_rule == WD_LINE_SPACING.EXACTLY and fmt.line_spacing == Pt(28)
    assert fmt.first_line_indent == Pt(32) and fmt.alignment == WD_ALIGN_PARAGRAPH.JUSTIFY
    assert all(r.font.size == Pt(16) and east_asian_font(r) == BODY_FONT for r in body.runs)
    leads = [r.text for r in body.runs if r.bold]
    assert leads[:3] == ["一是", "二是", "三是"]
    marks = [r.text for r in body.runs if r.font.superscript]
    assert marks and set(marks) == set(re.findall(r"\[\d+\]", draft.draft))

    # The sources, numbered as in the text: title, section, file.
    listed = sources_of(doc)
    assert len(listed) == len(draft.citations)
    for line, c in zip(listed, draft.citations):
        assert line.startswith(f"[{c.n}] {c.title}") and Path(c.source).name in line
        assert c.section in line
    heading = next(p for p in doc.paragraphs if p.text == SOURCES_HEADING)
    assert east_asian_font(heading.runs[0]) == "黑体"

    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert (round(section.top_margin.mm), round(section.left_margin.mm)) == (37, 28)


def test_answer_as_word_with_the_page_of_a_pdf_source(answerer, tmp_path):
    question = "举报材料中被举报人的基本情况要写哪些？"
    answer = answerer.ask(question)
    assert answer.found, answer.note
    assert any(c.source.endswith(PDF.name) for c in answer.citations), answer.citations
    path = save_word(tmp_path / "答复.docx", question, answer.answer, answer.citations)
    doc = Document(path)
    assert doc.paragraphs[0].text == question and doc.paragraphs[1].text == answer.answer
    pdf_line = next(line for line in sources_of(doc) if PDF.name in line)
    page = next(c.page for c in answer.citations if c.source.endswith(PDF.name))
    assert isinstance(page, int) and f"第{page}页" in pdf_line


def test_parts_on_their_own_lines_stay_their_own_paragraphs(kb, e5_embeddings, answerer, tmp_path):
    settings, retriever = kb
    texts = [p.text for p in retriever.search("巡视整改", k=12)]
    n = next(i for i, t in enumerate(texts, 1) if "三方联动" in t)
    reply = (f"各地压实巡视整改责任。\n一是建立督促巡视整改“三方联动”机制[{n}]；\n"
             f"二是共同督促整改[{n}]。")
    with ScriptedLLM([reply]) as server:
        llm_settings = Settings(home=settings.home, llm_base_url=server.base_url, llm_model="test-model")
        llm = Answerer(retriever, e5_embeddings, settings.relevance_threshold, build_chat_model(llm_settings),
                       load_prompts())
        draft = write_draft(llm, "巡视整改")
    assert draft.mode == "llm", draft.note
    doc = Document(save_word(tmp_path / "分段.docx", draft.topic, draft.draft, draft.citations))
    body = text_of(doc)[1:text_of(doc).index(SOURCES_HEADING)]
    assert body == ["各地压实巡视整改责任。", "一是建立督促巡视整改“三方联动”机制[1]；", "二是共同督促整改[1]。"]
    assert [p.runs[0].text for p in doc.paragraphs[2:4]] == ["一是", "二是"]
    assert all(p.runs[0].bold for p in doc.paragraphs[2:4])
    assert sources_of(doc) == [f"[1] {source_line(asdict(draft.citations[0]))}"]


def test_source_line_leaves_out_what_is_not_known():
    assert source_line({"title": "2021年巡视巡察工作综述", "section": "一、 › （一）", "page": None,
                        "source": "/data/汇编.txt"}) == "2021年巡视巡察工作综述，一、 › （一），汇编.txt"
    assert source_line({"title": "举报材料模板", "section": "", "page": 2, "source": "/d/jubao.pdf"}) == \
        "举报材料模板，第2页，jubao.pdf"


@pytest.mark.parametrize("name, says", [
    ("missing/综述.docx", "does not exist"),
    ("综述.doc", "ending in .docx"),
    ("综述.txt", "ending in .docx"),
    ("a-file/综述.docx", "does not exist"),
    ("folder.docx", "is a folder"),
])
def test_targets_that_cannot_be_written_are_usage_errors(tmp_path, name, says):
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    (tmp_path / "folder.docx").mkdir()
    with pytest.raises(UsageError, match=re.escape(says)):
        save_word(tmp_path / name, "标题", "正文。", [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder.docx"]  # nothing left behind


def test_writing_over_a_file_replaces_it_whole(tmp_path):
    target = tmp_path / "综述.docx"
    save_word(target, "第一稿", "旧的正文。", [])
    target.chmod(0o644)
    save_word(target, "第二稿", "新的正文。", [])
    assert text_of(Document(target))[:2] == ["第二稿", "新的正文。"]
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["综述.docx"]
    assert check_target(target) == target


def test_word_filename_is_safe():
    assert word_filename("巡视整改") == "巡视整改.docx"
    assert word_filename("../../etc/passwd") == "etc_passwd.docx"
    assert word_filename("交叉巡察是如何组织的？") == "交叉巡察是如何组织的.docx"
    assert word_filename("   ") == "材料.docx"


@pytest.mark.slow
def test_the_word_file_opens_in_libreoffice(answerer, tmp_path):
    assert OFFICE, "LibreOffice (Debian: libreoffice-writer-nogui) is needed; ./scripts/test.sh installs it"
    from pypdf import PdfReader

    draft = write_draft(answerer, "巡视整改", length=300)
    path = save_word(tmp_path / "综述.docx", draft.topic, draft.draft, draft.citations)
    profile = tmp_path / "lo-profile"
    result = subprocess.run([OFFICE, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                             "--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(path)],
                            capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "pdf" / "综述.pdf"
    assert result.returncode == 0 and pdf.exists(), result.stderr
    reader = PdfReader(pdf)
    text = re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))
    first_part = re.search(r"一是(.+?)\[\d+\]", draft.draft).group(1)
    assert text.startswith("巡视整改")
    assert re.sub(r"\s+", "", first_part) in text
    assert SOURCES_HEADING in text and re.sub(r"\s+", "", draft.citations[0].title) in text
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4
