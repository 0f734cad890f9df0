"""Text helpers shared by every loader: decode bytes, split lines, tidy one line."""

from __future__ import annotations

import codecs
import logging
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import charset_normalizer

from ingest.errors import LoadError
from ingest.models import Line

logger = logging.getLogger(__name__)

BINARY_CONTENT = "not a text file (binary content)"

# Byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# GB2312 and GBK are subsets of GB18030: decoding with the superset never loses a character
# (a GBK file may still hold a few GB18030-only characters typed on a newer system).
_CHINESE_ENCODINGS = {"gb2312", "gbk", "gb18030"}
# Labels web pages use (WHATWG) that Python's codec registry does not know.
_WEB_LABELS = dict.fromkeys(("x-gbk", "gb_2312", "gb_2312-80", "chinese", "csgb2312", "iso-ir-58"), "gb18030")

# Control characters other than the tab: they are invisible, or junk left by an export.
_CONTROL = [c for c in range(0x20) if c != 0x09] + list(range(0x7F, 0xA0))
_ZERO_WIDTH = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD]
_ODD_SPACES = [0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F]
# Kangxi radicals and CJK compatibility ideographs that PDF text extraction yields in place of
# the ordinary ideograph (``⼯作`` for ``工作``): they would never match a search.
_LOOKALIKE_RANGES = (range(0x2E80, 0x2FE0), range(0xF900, 0xFB00), range(0x2F800, 0x2FA20))


def _build_tidy_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {c: None for c in _CONTROL + _ZERO_WIDTH}
    table.update({c: " " for c in _ODD_SPACES})
    for block in _LOOKALIKE_RANGES:
        for code in block:
            char = chr(code)
            plain = unicodedata.normalize("NFKC", char)
            if plain != char and len(plain) == 1:
                table[code] = plain
    return table


_TIDY_TABLE = _build_tidy_table()


def tidy_line(text: str) -> str:
    """Tidy one line of text from any format.

    Removes zero-width characters, the soft hyphen and control characters (tabs stay: a table
    of contents uses them), turns NBSP and other odd spaces into plain spaces, maps Kangxi
    radicals and compatibility ideographs to the ordinary ideograph, and strips whitespace
    (ideographic space included) at the end of the line. Leading indentation is kept: an
    indent such as ``　　`` marks the start of a paragraph.
    """
    return text.translate(_TIDY_TABLE).rstrip()


def split_lines(text: str) -> list[str]:
    """Split text on any line ending (``\\r\\n``, ``\\r``, ``\\n``, form feed, U+2028...)."""
    return text.splitlines()


def page_lines(rows: Iterable[str], page: int | None) -> list[Line]:
    """The rows of one page (a PDF's text layer, what OCR read) as joinable lines: tidied, runs of
    blank rows made one, none at the ends."""
    lines: list[Line] = []
    for row in rows:
        text = tidy_line(row)
        if text.strip():
            lines.append(Line(text, page=page, joinable=True))
        elif lines and lines[-1].text:
            lines.append(Line("", page=page, joinable=True))
    if lines and not lines[-1].text:
        lines.pop()
    return lines


def is_blank(text: str) -> bool:
    """True when the text holds nothing but whitespace and invisible characters."""
    return not text.translate(_TIDY_TABLE).strip()


def decode_text(data: bytes, *, declared: str | None = None) -> str:
    """Decode the bytes of a text file to a string without a BOM.

    Order: a byte-order mark; an encoding the file declares (an HTML ``<meta charset>``) if it
    decodes cleanly; UTF-8 if it decodes cleanly; else charset-normalizer's guess, where a
    Chinese encoding wins over the others it finds plausible, read as GB18030.

    Raises:
        LoadError: the bytes are not text (NUL bytes outside UTF-16/32, or no plausible
            encoding).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(encoding))
            except UnicodeDecodeError:
                logger.info("bytes after a %s byte-order mark do not decode; guessing", encoding)
                break
    if b"\x00" in data:
        raise LoadError(BINARY_CONTENT)
    if declared:
        try:
            return _checked(data.decode(_superset(declared)))
        except (LookupError, UnicodeDecodeError):
            logger.info("declared encoding %r does not fit the bytes; guessing", declared)
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return _checked(_guess(data))


def _guess(data: bytes) -> str:
    return data.decode(_guess_encoding(data))


def _guess_encoding(data: bytes, *, partial: bool = False) -> str:
    matches = charset_normalizer.from_bytes(data)
    if not matches:
        raise LoadError(BINARY_CONTENT)
    # On short Chinese texts charset-normalizer often ranks cp949, Big5 or UTF-16 first
    # with GB18030 close behind; the users' files are mainland Chinese, so GB18030 wins.
    for match in matches:
        if match.encoding.lower() in _CHINESE_ENCODINGS:
            if _decodes(data, "gb18030", partial):
                return "gb18030"
            break
    best = matches.best()
    if best is None:
        raise LoadError(BINARY_CONTENT)
    return best.encoding


def _decodes(data: bytes, encoding: str, partial: bool) -> bool:
    """True when ``data`` decodes; with ``partial``, a character cut at the end is allowed."""
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=not partial)
    except UnicodeDecodeError:
        return False
    return True


# How much of a large file is read to choose its encoding, and how much is decoded at a time.
SNIFF_BYTES = 1 << 20
BLOCK_BYTES = 1 << 20


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """The encoding of a file that begins with ``head``, and the length of its byte-order mark.

    The same order as ``decode_text`` (a byte-order mark, UTF-8, then a guess), judged on the
    opening bytes only; a character cut at the end of ``head`` is allowed.

    Raises:
        LoadError: the bytes are not text.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    if b"\x00" in head:
        raise LoadError(BINARY_CONTENT)
    if _decodes(head, "utf-8", partial=True):
        return "utf-8", 0
    return _guess_encoding(head, partial=True), 0


def iter_text_lines(path: Path) -> Iterator[str]:
    """The lines of a text file of any size, decoded block by block (what ``split_lines`` gives
    for the whole decoded file, without holding it).

    Raises:
        LoadError: binary content, or bytes that stop decoding part way (the message says where).
    """
    with open(path, "rb") as f:
        encoding, bom = sniff_encoding(f.read(SNIFF_BYTES))
        f.seek(bom)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        pending = ""
        position = bom
        while True:
            block = f.read(BLOCK_BYTES)
            held = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
            try:
                text = pending + decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                raise LoadError(f"not {encoding} text at byte {position - held + e.start:,}") from e
            position += len(block)
            _checked(text)
            pieces = text.splitlines(keepends=True)
            # The last piece may be a line cut by the block's end, or a "\r" whose "\n" comes next.
            pending = pieces.pop() if pieces and block else ""
            for piece in pieces:
                yield (piece.splitlines() or [""])[0]
            if not block:
                return


def _superset(encoding: str) -> str:
    label = encoding.strip().lower()
    name = codecs.lookup(_WEB_LABELS.get(label, label)).name  # LookupError for an unknown name
    return "gb18030" if name in _CHINESE_ENCODINGS else name


def _checked(text: str) -> str:
    """Refuse decoded text that is mostly control characters: binary that happened to decode."""
    if text:
        odd = sum(1 for c in text if (ord(c) < 0x20 and c not in "\t\n\r\f\v") or c == "\ufffd")
        if odd > max(2, len(text) // 100):
            raise LoadError(BINARY_CONTENT)
    return text
