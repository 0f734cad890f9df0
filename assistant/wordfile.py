"""Drafts and answers as Word files (.docx) in the layout of official documents (公文, GB/T 9704).

The title is centred in 方正小标宋简体 二号 (22 pt) bold; the body in 仿宋_GB2312 三号 (16 pt), justified,
first line indented two characters, lines exactly 28 pt apart, on A4 with the standard margins.
Paragraphs are kept as the text has them; the lead-ins 一是、二是… are bold, headings 一、 are in 黑体
and （一） in 楷体_GB2312, and the citation marks [n] are superscript. The sources follow under
参考材料, numbered as in the text: title, section, page (when known), file. Each East Asian font is
set through ``w:rFonts w:eastAsia`` (Word and WPS choose Chinese glyphs by it) and is listed in the
font table with the font Windows always has as its alternative (仿宋_GB2312 → 仿宋), for machines
without the GB fonts. The CLI (``--docx``) and the web page both call ``save_word``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ingest.errors import UsageError

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体_GB2312"
# What Word or WPS uses where a GB font is not installed.
ALTERNATIVES = {TITLE_FONT: "宋体", BODY_FONT: "仿宋", HEADING_FONT: "SimHei", SUBHEADING_FONT: "楷体"}
TITLE_PT = 22  # 二号
BODY_PT = 16  # 三号
LINE_PT = 28
SOURCES_HEADING = "参考材料"
# A4 with GB/T 9704 margins (top 37 mm, bottom 35 mm, binding side 28 mm, other side 26 mm).
PAGE_MM = (210, 297)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}

_PIECES = re.compile(r"(\[\d+\])|((?:^|(?<=[；;。：:！？，,]))[一二三四五六七八九十]+是)")
_HEADING = re.compile(r"^[一二三四五六七八九十]+、")
_SUBHEADING = re.compile(r"^（[一二三四五六七八九十]+）")
_UNSAFE_NAME = re.compile(r"[^\w\u4e00-\u9fff（）()\-—_ ]+")


def word_document(title: str, text: str, citations: Sequence[Any] = ()) -> Any:
    """The ``python-docx`` document: ``title``, the paragraphs of ``text``, the numbered sources.

    Args:
        title: The heading (a draft's topic, an answer's question).
        text: The draft or answer, its ``[n]`` marks as they are; each line becomes a paragraph.
        citations: ``Citation`` objects or their dicts (``n``, ``title``, ``section``, ``source``,
            optionally ``page``), in the numbering of ``text``.
    """
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Mm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
    for side, mm in MARGINS_MM.items():
        setattr(section, f"{side}_margin", Mm(mm))
    _set_fonts(doc.styles["Normal"].element.get_or_add_rPr(), BODY_FONT)
    doc.styles["Normal"].font.size = Pt(BODY_PT)
    _declare_fonts(doc)

    def paragraph(indent: bool = True, align: Any = WD_ALIGN_PARAGRAPH.JUSTIFY, line: float = LINE_PT) -> Any:
        p = doc.add_paragraph()
        fmt = p.paragraph_format
        fmt.alignment = align
        fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, Pt(line)
        fmt.space_before = fmt.space_after = Pt(0)
        if indent:
            fmt.first_line_indent = Pt(2 * BODY_PT)
            # Two characters, as Word's 首行缩进 2 字符 (kept right if the size is changed).
            p._p.get_or_add_pPr().get_or_add_ind().set(_qn("w:firstLineChars"), "200")
        return p

    head = paragraph(indent=False, align=WD_ALIGN_PARAGRAPH.CENTER, line=1.5 * TITLE_PT)
    head.paragraph_format.space_after = Pt(LINE_PT)
    _run(head, title.strip(), TITLE_FONT, TITLE_PT, bold=True)
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if _HEADING.match(line) and not _ends_sentence(line):
            _run(paragraph(), line, HEADING_FONT, BODY_PT)
        elif _SUBHEADING.match(line) and not _ends_sentence(line):
            _run(paragraph(), line, SUBHEADING_FONT, BODY_PT)
        else:
            _body(paragraph(), line)
    sources = [_fields(c) for c in citations]
    if sources:
        heading = paragraph(indent=False, align=WD_ALIGN_PARAGRAPH.LEFT)
        heading.paragraph_format.space_before = Pt(LINE_PT)
        _run(heading, SOURCES_HEADING, HEADING_FONT, BODY_PT)
        for c in sources:
            p = paragraph(indent=False)
            # Hanging indent: the wrapped lines of an entry start under its text, not under [n].
            p.paragraph_format.left_indent, p.paragraph_format.first_line_indent = Pt(2 * BODY_PT), Pt(-2 * BODY_PT)
            _run(p, f"[{c['n']}] {source_line(c)}", BODY_FONT, BODY_PT)
    return doc


def source_line(citation: Mapping[str, Any]) -> str:
    """One source as the list shows it: title, section, page (when known), file."""
    parts = [citation.get("title") or "", citation.get("section") or ""]
    if citation.get("page") not in (None, "", 0):
        parts.append(f"第{citation['page']}页")
    if citation.get("source"):
        parts.append(Path(str(citation["source"])).name)
    return "，".join(p for p in parts if p)


def check_target(path: str | Path) -> Path:
    """The absolute path a Word file may be written to, checked before any work is done.

    Raises:
        UsageError: the name does not end in .docx, it is a folder, its folder is missing, or
            nothing can be written there.
    """
    target = Path(path).expanduser()
    if target.suffix.lower() != ".docx":
        raise UsageError(f"--docx writes a Word file: give a name ending in .docx (got {path})")
    target = target.absolute()
    if target.is_dir():
        raise UsageError(f"{target} is a folder: give a file name ending in .docx")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: the folder {target.parent} does not exist (create it, or choose another)")
    try:
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=".xunshi-", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror or e} (choose a folder you can write to)") from e
    os.close(fd)
    os.unlink(probe)
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"cannot write {target}: the file is read-only (choose another name)")
    return target


def save_word(path: str | Path, title: str, text: str, citations: Sequence[Any] = ()) -> Path:
    """Write the Word file atomically (a temporary file beside it, then renamed over it): a reader
    never sees half a file, and a failed write leaves an earlier file as it was.

    Returns:
        The absolute path written.

    Raises:
        UsageError: the path cannot be written (see ``check_target``).
    """
    target = check_target(path)
    doc = word_document(title, text, citations)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem[:40]}-", suffix=".docx.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            doc.save(out)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {e.strerror or e}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def word_filename(title: str, limit: int = 40) -> str:
    """A file name for the page's download, from the title: ``巡视整改.docx``."""
    stem = _UNSAFE_NAME.sub("_", title.strip()).strip(" ._")[:limit].strip(" ._")
    return f"{stem or '材料'}.docx"


# --- the pieces ----------------------------------------------------------------------------------

def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _ends_sentence(line: str) -> bool:
    return line.rstrip("[]0123456789").endswith(("。", "；", "！", "？", "：", "”"))


def _fields(citation: Any) -> dict[str, Any]:
    if isinstance(citation, Mapping):
        return dict(citation)
    if is_dataclass(citation):
        return asdict(citation)
    raise TypeError(f"a citation is a Citation or its dict, not {type(citation).__name__}")


def _set_fonts(rpr: Any, font: str) -> None:
    """Every script of ``rpr`` in ``font``; theme fonts removed, they would win over a named font."""
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(_qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(_qn(attr), font)


def _run(paragraph: Any, text: str, font: str, size: float, bold: bool = False, superscript: bool = False) -> Any:
    from docx.shared import Pt

    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    if bold:
        run.font.bold = True
    if superscript:
        run.font.superscript = True
    _set_fonts(run._r.get_or_add_rPr(), font)
    return run


def _body(paragraph: Any, line: str) -> None:
    """A body paragraph: the lead-ins 一是… bold, the citation marks superscript."""
    at = 0
    for m in _PIECES.finditer(line):
        if m.start() > at:
            _run(paragraph, line[at:m.start()], BODY_FONT, BODY_PT)
        if m.group(1):
            _run(paragraph, m.group(1), BODY_FONT, BODY_PT, superscript=True)
        else:
            _run(paragraph, m.group(2), BODY_FONT, BODY_PT, bold=True)
        at = m.end()
    if at < len(line):
        _run(paragraph, line[at:], BODY_FONT, BODY_PT)


def _declare_fonts(doc: Any) -> None:
    """List the fonts in the font table, each with its alternative and the GB2312 character set."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml

    try:
        table = doc.part.part_related_by(RT.FONT_TABLE)
    except KeyError:
        return
    root = parse_xml(table.blob) if not hasattr(table, "element") else table.element
    known = {f.get(_qn("w:name")) for f in root.findall(_qn("w:font"))}
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    for name, alternative in ALTERNATIVES.items():
        if name in known:
            continue
        root.append(parse_xml(f'<w:font {ns} w:name="{name}"><w:altName w:val="{alternative}"/>'
                              '<w:charset w:val="86"/><w:family w:val="modern"/><w:pitch w:val="fixed"/></w:font>'))
    if not hasattr(table, "element"):
        from lxml import etree

        table._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
