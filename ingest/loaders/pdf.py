"""PDF files with a text layer: one joinable Line per extracted line, with its page number."""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from ingest.errors import LoadError
from ingest.loaders._text import split_lines, tidy_line
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)

ENCRYPTED = "encrypted PDF: remove the password and ingest again"
NO_TEXT_LAYER = "no text layer (scanned PDF?), OCR is not supported"

# What pypdf raises on damaged files besides its own errors.
_DAMAGED = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
            RecursionError, zlib.error)


def load_pdf(path: Path) -> LoadedFile:
    """Load a PDF's text layer.

    Lines keep their 1-based page number and are joinable (a PDF line break says nothing about
    sentences). Blank lines at the top and bottom of a page are dropped and runs of blank lines
    inside a page become one; no blank line is added between pages. A PDF locked only by an
    owner password (empty user password) opens as usual. A page whose text cannot be extracted
    is logged and skipped.

    Raises:
        LoadError: encrypted, corrupt, or no text on any page (a scan).
    """
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            _decrypt_with_empty_password(reader)
        pages = list(reader.pages)
    except LoadError:
        raise
    except _DAMAGED as e:
        raise LoadError(f"corrupt PDF: {e}") from e
    lines: list[Line] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text()
        except _DAMAGED as e:
            logger.warning("%s: page %d has unreadable text, skipped: %s", path.name, number, e)
            continue
        lines.extend(_page_lines(text, number))
    if not lines:
        raise LoadError(NO_TEXT_LAYER)
    return LoadedFile(lines=lines, format="pdf")


def _decrypt_with_empty_password(reader: PdfReader) -> None:
    try:
        opened = reader.decrypt("")
    except DependencyError as e:
        # AES needs the optional 'cryptography' package; RC4 does not.
        raise LoadError(
            f"{ENCRYPTED} (AES-encrypted PDFs with only an owner password open once the "
            "'cryptography' package is installed)"
        ) from e
    if opened == PasswordType.NOT_DECRYPTED:
        raise LoadError(ENCRYPTED)


def _page_lines(text: str, page: int) -> list[Line]:
    lines: list[Line] = []
    for raw in split_lines(text or ""):
        tidy = tidy_line(raw)
        if tidy.strip():
            lines.append(Line(tidy, page=page, joinable=True))
        elif lines and lines[-1].text:
            lines.append(Line("", page=page, joinable=True))
    if lines and not lines[-1].text:
        lines.pop()
    return lines
