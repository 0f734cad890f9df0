"""OCR of scans and photos with the real engine: a red-header notice typeset, sealed, skewed and speckled,
read back from an image-only PDF, a phone photo, a multi-page TIFF and a PDF that is half text, half scan."""

from __future__ import annotations

import difflib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from ingest.chunking import chunk_document
from ingest.errors import LoadError
from ingest.loaders import is_supported, load_file
from ingest.loaders.image import has_ink
from ingest.loaders.ocr import Piece, group_lines, is_sideways, restore_redactions
from ingest.official import canonical_number
from ingest.pipeline import load_documents
from scans import BODY, DATE, ISSUER, NOTE, NUMBER, TITLE, body_text, notice_pages, save_pdf
from test_egress import HOOK, is_local
from test_loaders import write_text_pdf

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def pages() -> list[Image.Image]:
    return notice_pages()


@pytest.fixture(scope="module")
def scan_pdf(pages, tmp_path_factory) -> Path:
    return save_pdf(pages, tmp_path_factory.mktemp("scan") / "巡察办通知扫描件.pdf")


@pytest.fixture(scope="module")
def scanned_notice(scan_pdf):
    [doc] = load_documents(scan_pdf)
    return doc


def squeeze(text: str) -> str:
    return "".join(text.split())


def test_scanned_pdf_reads_as_the_notice_it_shows(scanned_notice):
    doc = scanned_notice
    assert doc.format == "pdf-ocr"
    assert doc.title == TITLE
    assert doc.year == 2023 and doc.level == "市"
    # Characters read as typeset: at most 1 in 100 wrong, missing or extra.
    read = squeeze(doc.text)
    expected = squeeze(body_text())
    errors = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in
                 difflib.SequenceMatcher(None, expected, read, autojunk=False).get_opcodes() if op != "equal")
    assert errors <= len(expected) // 100, (errors, doc.text)


def test_what_people_search_for_survives_verbatim(scanned_notice):
    paragraphs = scanned_notice.text.split("\n")
    assert paragraphs[1] == NUMBER  # the 文号 as printed, whatever brackets OCR saw
    assert BODY[2] in paragraphs  # “推磨式”, and the redacted xx kept as xx
    assert DATE in paragraphs


def test_chunks_keep_sections_and_pages_across_the_page_break(scanned_notice):
    chunks = chunk_document(scanned_notice, 300)
    by_text = {c.text: c for c in chunks}
    practice = next(c for c in chunks if "推磨式" in c.text)
    assert practice.section == "一、总体要求" and practice.page == 1
    audit = next(c for c in chunks if "巡审联动，审计机关" in c.text)
    assert audit.section == "五、巡审联动" and audit.page == 2
    assert len(by_text) == len(chunks)


def test_photo_taken_sideways_and_askew_reads_upright(pages, tmp_path):
    # A phone stores the picture as the sensor saw it and says in EXIF how to turn it (6: 90° clockwise);
    # the page lay 4° askew, so its lines slope into each other until it is straightened.
    sideways = pages[0].rotate(4, expand=True, fillcolor="white").rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "手机拍照.JPG"
    sideways.save(path, "JPEG", quality=80, exif=exif)
    [doc] = load_documents(path)
    assert doc.format == "image"
    assert doc.title == TITLE and doc.text.split("\n")[1] == NUMBER
    assert BODY[0] in doc.text.split("\n")  # its two lines rejoined, not run into the addressees


def test_multipage_black_and_white_tiff_keeps_its_pages_and_turns_them_upright(pages, tmp_path):
    # What an office scanner writes: 1 bit per pixel, CCITT Group 4, one frame per page; here the first
    # sheet went in upside down and the second sideways, and nothing in the file says so.
    path = tmp_path / "扫描.tif"
    bilevel = [page.convert("L").point(lambda v: 255 if v > 150 else 0).convert("1") for page in pages]
    turned = [bilevel[0].rotate(180), bilevel[1].rotate(90, expand=True)]
    turned[0].save(path, save_all=True, append_images=turned[1:], compression="group4")
    loaded = load_file(path)
    assert {line.page for line in loaded.lines} == {1, 2}
    first = [squeeze(line.text) for line in loaded.lines if line.page == 1]
    second = [squeeze(line.text) for line in loaded.lines if line.page == 2]
    assert first[0] == ISSUER and canonical_number(first[1]) == NUMBER and first[2] == TITLE
    assert second[0] == BODY[-2] and second[-1] == NOTE  # 五、巡审联动 … （此件公开发布）
    assert any("巡审联动" in line.text and line.page == 2 for line in loaded.lines)


def test_pdf_half_text_half_scan_reads_both_in_page_order(pages, tmp_path):
    text_pdf = write_text_pdf(tmp_path / "text.pdf", [["Cover page with a text layer"]])
    scan = save_pdf(pages[1:], tmp_path / "page2.pdf")
    writer = PdfWriter()
    for part in (text_pdf, scan):
        for page in PdfReader(part).pages:
            writer.add_page(page)
    mixed = tmp_path / "mixed.pdf"
    writer.write(mixed)
    loaded = load_file(mixed)
    assert loaded.format == "pdf-ocr"
    assert loaded.lines[0].text == "Cover page with a text layer" and loaded.lines[0].page == 1
    assert any("巡审联动" in line.text and line.page == 2 for line in loaded.lines)


def test_pieces_are_put_back_into_lines():
    # Two pieces of one row (a small skew between them), a far-apart pair, and the next row.
    pieces = [
        Piece("交叉巡察", 100, 102, 260, 140), Piece("工作", 262, 100, 340, 138),
        Piece("秘密★1年", 100, 10, 260, 48), Piece("000123", 900, 12, 1000, 46),
        Piece("下一行", 100, 160, 220, 198),
    ]
    lines = group_lines(pieces)
    assert [[p.text for p in line] for line in lines] == [["秘密★1年", "000123"], ["交叉巡察", "工作"], ["下一行"]]
    assert not is_sideways(pieces)
    assert is_sideways([Piece("行", 100 * n, 0, 100 * n + 40, 600) for n in range(5)])


def test_redacted_numbers_read_in_mixed_case_are_restored():
    assert restore_redactions("中共Xx市委，调配xX个区县，Xxx名") == "中共xx市委，调配xx个区县，xxx名"
    assert restore_redactions("X光机，Xbox，XX，x巡办发") == "X光机，Xbox，XX，x巡办发"


def test_blank_and_damaged_images_are_refused_with_the_reason(tmp_path):
    blank = tmp_path / "空白.png"
    Image.new("RGB", (800, 1100), (250, 250, 248)).save(blank)
    assert not has_ink(Image.open(blank))
    with pytest.raises(LoadError, match="no text recognised"):
        load_file(blank)
    damaged = tmp_path / "坏.png"
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), "black").save(buffer, "PNG")
    damaged.write_bytes(buffer.getvalue()[:300])
    with pytest.raises(LoadError, match="damaged image"):
        load_file(damaged)
    assert all(is_supported(Path(f"a{ext}")) for ext in (".png", ".JPG", ".jpeg", ".tif", ".tiff", ".bmp"))


def test_cli_ingests_scans_and_finds_the_notice(scan_pdf, pages, tmp_path, e5_model_dir):
    folder = tmp_path / "扫描件"
    folder.mkdir()
    (folder / scan_pdf.name).write_bytes(scan_pdf.read_bytes())
    pages[1].save(folder / "第二页照片.png")
    # Every connection or name lookup the commands attempt is recorded (the zero-egress test's audit hook).
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    log = tmp_path / "egress.jsonl"
    env = {**os.environ, "XUNSHI_HOME": str(tmp_path / "home"), "XUNSHI_MODELS_DIR": str(e5_model_dir.parent),
           "XUNSHI_EGRESS_LOG": str(log), "PYTHONPATH": str(hook_dir)}

    def xunshi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=900)

    ingested = xunshi("ingest", str(folder), "--json")
    assert ingested.returncode == 0, ingested.stderr
    report = json.loads(ingested.stdout)
    assert report["added"] == 2 and report["failed"] == []
    found = json.loads(xunshi("search", "“推磨式”交叉巡察怎么抽调干部", "-k", "3", "--json").stdout)["results"]
    top = found[0]
    assert top["title"] == TITLE and top["year"] == 2023 and top["level"] == "市" and top["page"] == 1
    assert "每轮抽调xx名干部" in top["text"]
    listed = json.loads(xunshi("docs", "list", "--json").stdout)["documents"]
    assert sorted(d["title"] for d in listed) == sorted([TITLE, "第二页照片"])
    attempts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert ["ingest"] in [a["argv"][:1] for a in attempts], "the audit hook did not load"
    assert [a for a in attempts if not is_local(a["address"])] == []  # OCR downloads nothing, sends nothing
