"""Loaders: real files of every format, built in tmp_path (one real PDF in tests/data)."""

from __future__ import annotations

import codecs
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from ingest.errors import LoadError
from ingest.loaders import SUPPORTED_EXTENSIONS, is_supported, load_file
from ingest.loaders._text import tidy_line
from ingest.models import Line

DATA = Path(__file__).resolve().parent.parent / "data"

CHINESE = (
    "2021年巡视巡察工作综述\r\n"
    "\r\n"
    "一、坚定不移深化政治巡视\r\n"
    "　　全年三轮巡视共发现问题xxxx个，开展现场\r\n"
    "指导督导，推行“推磨式”交叉巡察。\r\n"
    "1.标题\t2\r\n"
)
CHINESE_LINES = [
    "2021年巡视巡察工作综述",
    "",
    "一、坚定不移深化政治巡视",
    "　　全年三轮巡视共发现问题xxxx个，开展现场",
    "指导督导，推行“推磨式”交叉巡察。",
    "1.标题\t2",
]


def texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def load_error(path: Path, **kwargs) -> str:
    with pytest.raises(LoadError) as caught:
        load_file(path, **kwargs)
    return str(caught.value)


# --- plain text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "content"),
    [
        ("utf-8", CHINESE),
        ("utf-8-sig", CHINESE),
        ("gbk", CHINESE),
        ("gb18030", CHINESE + "龑䶮𠀀字不在GBK里\r\n"),
        ("utf-16", CHINESE),  # Python writes the BOM
        ("utf-16-be-bom", CHINESE),
    ],
)
def test_text_encodings_round_trip_exactly(tmp_path, encoding, content):
    if encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + content.encode("utf-16-be")
    else:
        data = content.encode(encoding)
    loaded = load_file(write(tmp_path / "综述.txt", data))

    assert loaded.format == "txt"
    assert texts(loaded.lines) == content.rstrip("\r\n").split("\r\n")
    assert all(line.joinable and line.page is None and line.heading_level is None
               for line in loaded.lines)


@pytest.mark.parametrize("sample", ["巡视工作\n", "abc 巡视\n", "交叉巡察是如何组织的？\n"])
def test_short_gbk_text_is_read_as_chinese(tmp_path, sample):
    # charset-normalizer alone ranks cp949 or UTF-16 first on texts this short.
    loaded = load_file(write(tmp_path / "short.txt", sample.encode("gbk")))
    assert texts(loaded.lines) == [sample.strip()]


def test_line_endings_are_normalised_and_blank_lines_kept(tmp_path):
    loaded = load_file(write(tmp_path / "a.txt", "甲\r\n\r\n乙\r丙\n\n\n丁".encode()))
    assert texts(loaded.lines) == ["甲", "", "乙", "丙", "", "", "丁"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_large_text_streamed_in_small_blocks_reads_as_the_whole(tmp_path, monkeypatch, encoding):
    from ingest.loaders import _text
    from ingest.loaders.text import stream_lines

    content = ("第一行巡视\r\n\r\n第二行\r第三行㐀\n\n\n" + CHINESE) * 7
    path = write(tmp_path / "大文件.md", content.encode(encoding))
    whole = load_file(path).lines
    # Blocks of 7 bytes cut characters, and "\r\n" pairs, at every possible place.
    monkeypatch.setattr(_text, "BLOCK_BYTES", 7)
    assert list(stream_lines(path)) == whole


def test_large_text_that_stops_decoding_names_the_byte(tmp_path, monkeypatch):
    from ingest.loaders import _text
    from ingest.loaders.text import stream_lines

    monkeypatch.setattr(_text, "SNIFF_BYTES", 64)
    monkeypatch.setattr(_text, "BLOCK_BYTES", 64)
    path = write(tmp_path / "半截.txt", "巡视工作综述\n".encode() * 20 + b"\xff\xfe\xfa" + "尾".encode())
    with pytest.raises(LoadError, match="not utf-8 text at byte 380$"):
        list(stream_lines(path))


def test_zero_width_and_odd_spaces_are_tidied(tmp_path):
    raw = "巡\u200b视\u00a0工作\u3000\u3000\n\ufeff交叉\u2060巡察 \u200d\n\u3000\u3000首行缩进\n"
    loaded = load_file(write(tmp_path / "a.txt", raw.encode()))
    assert texts(loaded.lines) == ["巡视 工作", "交叉巡察", "\u3000\u3000首行缩进"]


def test_tidy_line_maps_kangxi_radicals_from_pdf_extraction():
    assert tidy_line("⼯作\u00ad组\x07") == "工作组"


@pytest.mark.parametrize(
    "junk",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 10,  # no NUL byte at all
    ],
)
def test_binary_content_named_txt_is_refused(tmp_path, junk):
    assert load_error(write(tmp_path / "photo.txt", junk)) == "not a text file (binary content)"


@pytest.mark.parametrize("data", [b"", b" \r\n\t\n", "\u3000\u3000\n\u200b\n".encode(),
                                  codecs.BOM_UTF8 + b"\n"])
def test_empty_and_whitespace_only_text_is_refused(tmp_path, data):
    assert load_error(write(tmp_path / "empty.txt", data)) == "empty file"


def test_markdown_headings(tmp_path):
    source = (
        "# 2021年巡视工作综述\n"
        "正文第一行\n"
        "\n"
        "## 一、深化政治巡视 ##\n"
        "   ### （一）提级巡视\n"
        "#没有空格不是标题\n"
        "##paidbegin##\n"
        "```\n"
        "# 代码里的注释\n"
        "```\n"
        "**加粗**保持原样\n"
    )
    loaded = load_file(write(tmp_path / "综述.md", source.encode()))
    assert loaded.format == "md"
    assert [(line.text, line.heading_level, line.joinable) for line in loaded.lines] == [
        ("2021年巡视工作综述", 1, False),
        ("正文第一行", None, True),
        ("", None, True),
        ("一、深化政治巡视", 2, False),
        ("（一）提级巡视", 3, False),
        ("#没有空格不是标题", None, True),
        ("##paidbegin##", None, True),
        ("```", None, True),
        ("# 代码里的注释", None, True),
        ("```", None, True),
        ("**加粗**保持原样", None, True),
    ]


# --- docx ------------------------------------------------------------------------------------


def build_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_paragraph("2021年巡视工作综述", style="Title")
    document.add_heading("一、深化政治巡视", level=1)
    document.add_paragraph("全年三轮巡视共发现问题xxxx个。")
    document.add_heading("（一）提级巡视", level=2)
    broken = document.add_paragraph("对国企开展")
    broken.runs[0].add_break()
    broken.add_run("提级巡视。")
    document.add_paragraph("")  # empty paragraphs are dropped
    table = document.add_table(rows=3, cols=3)
    rows = [("a", "b", "c"), ("单位", "问题数", "整改率"), ("", "", "")]
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))  # one wide cell, not "x | x"
    merged.text = "合计"
    table.cell(2, 2).text = "95%"
    nested = table.cell(1, 1).add_table(rows=1, cols=2)
    nested.cell(0, 0).text = "内1"
    nested.cell(0, 1).text = "内2"
    chinese_style = document.styles.add_style("标题 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("二、巡审联动", style=chinese_style)
    outlined = document.add_paragraph("三、大纲级别标题")
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), "0")
    outlined._p.get_or_add_pPr().append(outline)
    document.add_paragraph("结尾段落。")
    document.save(str(path))
    return path


def test_docx_paragraphs_headings_and_tables_in_order(tmp_path):
    loaded = load_file(build_docx(tmp_path / "综述.docx"))
    assert loaded.format == "docx"
    assert [(line.text, line.heading_level, line.joinable) for line in loaded.lines] == [
        ("2021年巡视工作综述", 0, False),
        ("一、深化政治巡视", 1, False),
        ("全年三轮巡视共发现问题xxxx个。", None, False),
        ("（一）提级巡视", 2, False),
        ("对国企开展", None, True),  # a soft line break: may be inside a sentence
        ("提级巡视。", None, True),
        ("", None, True),  # ends the paragraph, as a blank line does in plain text
        ("a | b | c", None, False),
        ("单位 | 问题数 | 整改率", None, False),
        ("内1 | 内2", None, False),
        ("合计 | 95%", None, False),
        ("二、巡审联动", 2, False),
        ("三、大纲级别标题", 1, False),
        ("结尾段落。", None, False),
    ]


def test_truncated_docx_is_corrupt(tmp_path):
    data = build_docx(tmp_path / "whole.docx").read_bytes()
    cut = write(tmp_path / "cut.docx", data[: len(data) // 2])
    assert load_error(cut).startswith("corrupt .docx: ")


def test_docx_with_damaged_document_part_is_corrupt(tmp_path):
    whole = build_docx(tmp_path / "whole.docx")
    damaged = tmp_path / "damaged.docx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(damaged, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "word/document.xml":
                data = data[: len(data) // 2]
            target.writestr(member, data)
    assert load_error(damaged).startswith("corrupt .docx: ")


def test_doc_renamed_docx_is_explained(tmp_path):
    ole = write(tmp_path / "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)
    assert "old .doc file or a password-protected document" in load_error(ole)


def test_empty_docx_is_refused(tmp_path):
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    assert load_error(path) == "empty file"


def test_zip_bomb_disguised_as_docx_is_refused_fast(tmp_path):
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            block = b"\0" * 2**20
            for _ in range(64):
                member.write(block)
    assert path.stat().st_size < 2**20
    started = time.perf_counter()
    message = load_error(path)
    assert time.perf_counter() - started < 1
    assert message.startswith("refused: .docx expands to 64 MB")
    assert message.endswith("zip bomb?)")


# --- pdf -------------------------------------------------------------------------------------


def write_text_pdf(path: Path, pages: list[list[str]], password: str | None = None) -> Path:
    """A PDF with a real text layer in Helvetica (ASCII lines), one list of lines per page."""
    writer = PdfWriter()
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    for lines in pages:
        page = writer.add_blank_page(width=595, height=842)
        shown = " ".join(f"({line}) Tj T*" for line in lines)
        content = DecodedStreamObject()
        content.set_data(f"BT /F1 12 Tf 14 TL 72 770 Td {shown} ET".encode("latin-1"))
        page.replace_contents(content)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner-secret")
    writer.write(path)
    return path


def test_real_chinese_pdf_keeps_pages_and_drops_zero_width(tmp_path):
    loaded = load_file(DATA / "jubao_templates.pdf")
    assert loaded.format == "pdf"
    by_page = {page: [line.text for line in loaded.lines if line.page == page] for page in range(1, 6)}
    assert by_page[1][:3] == ["举报材料模板一", "关于张××受贿问题的举报", "中央纪委："]
    assert by_page[1][-4:] == [" 举报人：孙×", " 身份证号：1*****2117", " 联系方式：158****4568",
                               " 2018年×月×日"]
    assert by_page[2][0] == "注意事项："
    assert by_page[3][0] == "举报材料模板二"
    assert by_page[4][:2] == ["举报材料模板三", "关于郭××接受公款宴请问题的举报"]
    assert by_page[5] == []  # the empty last page gives nothing
    assert all(line.joinable and line.text for line in loaded.lines)
    assert not any("\u200b" in line.text for line in loaded.lines)


def test_generated_pdf_lines_carry_page_numbers(tmp_path):
    path = write_text_pdf(tmp_path / "report.pdf", [["Inspection report", "first line"], ["page two"]])
    loaded = load_file(path)
    assert [(line.text, line.page) for line in loaded.lines] == [
        ("Inspection report", 1), ("first line", 1), ("page two", 2)]


def test_encrypted_pdf_is_refused(tmp_path):
    path = write_text_pdf(tmp_path / "locked.pdf", [["secret"]], password="user-secret")
    assert load_error(path) == "encrypted PDF: remove the password and ingest again"


def test_pdf_with_only_an_owner_password_opens(tmp_path):
    path = write_text_pdf(tmp_path / "restricted.pdf", [["open text"]], password="")
    assert texts(load_file(path).lines) == ["open text"]


def test_pdf_without_text_anywhere_is_refused(tmp_path):
    # No text layer, and the pages (blank) give OCR nothing to read; scans are read in test_ocr.py.
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_blank_page(width=595, height=842)
    path = tmp_path / "scan.pdf"
    writer.write(path)
    assert load_error(path) == "no text: no page has a text layer, and OCR found no text on the scanned pages"


def test_corrupt_pdf_is_refused(tmp_path):
    path = write(tmp_path / "bad.pdf", b"%PDF-1.4\nthis is not a pdf body\n")
    assert load_error(path).startswith("corrupt PDF: ")


# --- html ------------------------------------------------------------------------------------


def test_html_keeps_text_only_never_script_or_markup(tmp_path):
    page = """<!DOCTYPE html><html><head><title>巡察通报</title>
    <style>p { color: red }</style><script>var leaked = 1;</script></head>
    <body><script>alert(1)</script><noscript>请启用脚本</noscript>
    <h2>一、基本情况</h2>
    <p>巡察组<b>进驻</b>后，<img src=x onerror="alert(2)">开展
    个别谈话。</p><!-- 注释不是正文 -->
    <div>第一行<br>第二行<br/>第三行</div>
    <div hidden>隐藏</div><p style="display: none">也隐藏</p>
    <ul><li>一是立行立改</li><li>二是“回头看”&nbsp;&lt;b&gt;</li></ul>
    <table><tr><th>单位</th><th>问题</th><th>整改率</th></tr>
    <tr><td>a</td><td>b<table><tr><td>内1</td><td>内2</td></tr></table></td><td>c</td></tr></table>
    <template><p>模板</p></template>
    </body></html>"""
    loaded = load_file(write(tmp_path / "page.html", page.encode()))
    assert loaded.format == "html"
    assert [(line.text, line.heading_level) for line in loaded.lines] == [
        ("巡察通报", 1),
        ("一、基本情况", 2),
        ("巡察组进驻后，开展个别谈话。", None),
        ("第一行", None), ("第二行", None), ("第三行", None),
        ("一是立行立改", None),
        ("二是“回头看” <b>", None),
        ("单位 | 问题 | 整改率", None),
        ("a | b | c", None),
        ("内1 | 内2", None),
    ]
    assert not any(line.joinable for line in loaded.lines)


def test_html_preformatted_lines_are_joinable_and_closed_by_a_blank(tmp_path):
    page = "<pre>开展现场\n指导督导。\n</pre><pre>第二块</pre><p>段落</p>"
    loaded = load_file(write(tmp_path / "pre.html", page.encode()))
    assert [(line.text, line.joinable) for line in loaded.lines] == [
        ("开展现场", True), ("指导督导。", True), ("", True), ("第二块", True), ("", True),
        ("段落", False)]


def test_deeply_nested_html_still_loads(tmp_path):
    page = "<div><span>" * 1000 + "深层正文" + "</span></div>" * 1000
    assert texts(load_file(write(tmp_path / "deep.html", page.encode())).lines) == ["深层正文"]


def test_html_title_is_not_added_when_there_is_an_h1(tmp_path):
    page = "<html><head><title>网站名称</title></head><body><h1>正文标题</h1><p>正文</p></body></html>"
    loaded = load_file(write(tmp_path / "a.htm", page.encode()))
    assert [(line.text, line.heading_level) for line in loaded.lines] == [("正文标题", 1), ("正文", None)]


def test_html_layout_table_cell_gives_ordinary_lines(tmp_path):
    page = "<table><tr><td><h3>标题</h3><p>第一段。</p><p>第二段。</p></td></tr></table>"
    loaded = load_file(write(tmp_path / "a.html", page.encode()))
    assert [(line.text, line.heading_level) for line in loaded.lines] == [
        ("标题", 3), ("第一段。", None), ("第二段。", None)]


@pytest.mark.parametrize("meta", ['<meta charset="gb2312">',
                                  '<meta http-equiv="Content-Type" content="text/html; charset=GBK">',
                                  ""])
def test_gbk_html_decodes(tmp_path, meta):
    page = f"<html><head>{meta}<title>通报</title></head><body><p>巡视工作，交叉巡察。</p></body></html>"
    loaded = load_file(write(tmp_path / "gbk.htm", page.encode("gbk")))
    assert texts(loaded.lines) == ["通报", "巡视工作，交叉巡察。"]


def test_html_with_no_visible_text_is_refused(tmp_path):
    page = b"<html><head><script>alert(1)</script></head><body> <br> </body></html>"
    assert load_error(write(tmp_path / "blank.html", page)) == "empty file"


# --- doc -------------------------------------------------------------------------------------


def test_doc_without_libreoffice_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-office-here"))  # a machine without soffice
    path = write(tmp_path / "old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048)
    assert load_error(path) == (
        "legacy .doc needs LibreOffice: install it (apt-get install libreoffice-writer) "
        "or save the file as .docx"
    )


def test_doc_that_is_really_a_docx_is_read_without_libreoffice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-office-here"))
    path = tmp_path / "export.doc"
    shutil.copy(build_docx(tmp_path / "x.docx"), path)
    loaded = load_file(path)
    assert loaded.format == "doc"
    assert loaded.lines[1] == Line("一、深化政治巡视", heading_level=1, joinable=False)


OFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def test_doc_is_converted_with_libreoffice(tmp_path):
    # Not skipped: a .doc path that no test runs is not known to work. scripts/test.sh installs it.
    if OFFICE is None:
        pytest.fail("LibreOffice is not installed: run scripts/test.sh as root, or "
                    "apt-get install --no-install-recommends libreoffice-writer-nogui")
    source = build_docx(tmp_path / "source.docx")
    subprocess.run(
        [OFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
         "--convert-to", "doc", "--outdir", str(tmp_path / "doc"), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    loaded = load_file(tmp_path / "doc" / "source.doc")
    assert loaded.format == "doc"
    assert "一、深化政治巡视" in texts(loaded.lines)
    assert "a | b | c" in texts(loaded.lines)


# --- dispatch --------------------------------------------------------------------------------


def test_unsupported_extension_lists_the_supported_ones(tmp_path):
    path = write(tmp_path / "data.xyz", b"hello")
    assert load_error(path) == (
        "unsupported file type .xyz (supported: .txt .md .docx .pdf .html .htm .doc"
        " .png .jpg .jpeg .tif .tiff .bmp .xlsx .csv)"
    )
    assert SUPPORTED_EXTENSIONS == (".txt", ".md", ".docx", ".pdf", ".html", ".htm", ".doc",
                                    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".xlsx", ".csv")


def test_extension_case_does_not_matter(tmp_path):
    path = write(tmp_path / "README.TXT", "巡视".encode())
    assert is_supported(path) and is_supported(Path("a.PDF")) and not is_supported(Path("a.xls"))
    assert texts(load_file(path).lines) == ["巡视"]


def test_too_large_file_is_refused_before_reading(tmp_path):
    path = write(tmp_path / "big.txt", "巡".encode() * 2**20)  # 3 MB
    assert load_error(path, max_bytes=2**20) == "too large (3 MB > 1 MB limit)"


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "gone.txt") == "file not found"
