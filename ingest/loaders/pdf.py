"""PDF files: one joinable Line per line of the text layer, or of OCR where a page has no text layer,
with its page number."""

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
NO_TEXT_LAYER = "no text layer, and OCR recognised no text on any page (blank pages, or a scan too faint to read)"

# What pypdf raises on damaged files besides its own errors.
_DAMAGED = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
            RecursionError, zlib.error)


def load_pdf(path: Path) -> LoadedFile:
    """Load a PDF's text layer, recognising by OCR the pages that have none (scans).

    Lines keep their 1-based page number and are joinable (a PDF line break says nothing about
    sentences). Blank lines at the top and bottom of a page are dropped and runs of blank lines
    inside a page become one; no blank line is added between pages. A PDF locked only by an
    owner password (empty user password) opens as usual. A page without a text layer, or whose
    text cannot be extracted (logged), is rendered and read by OCR; a page that renders blank is
    skipped. The format is ``pdf-ocr`` when any page was read by OCR.

    Raises:
        LoadError: encrypted, corrupt, or no text on any page, even by OCR.
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
    pages_lines: list[list[Line]] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text()
        except _DAMAGED as e:
            logger.warning("%s: page %d has unreadable text, skipped: %s", path.name, number, e)
            text = ""
        pages_lines.append(_page_lines(text, number))
    scanned = [number for number, page_lines in enumerate(pages_lines, start=1) if not page_lines]
    if scanned:
        from ingest.loaders.pdf_ocr import ocr_pdf_pages  # the OCR engine loads only for scans

        logger.info("%s: %d of %d pages have no text layer, reading them by OCR", path.name, len(scanned), len(pages))
        for number, page_lines in ocr_pdf_pages(path, scanned).items():
            pages_lines[number - 1] = page_lines
    lines = [line for page_lines in pages_lines for line in page_lines]
    if not lines:
        raise LoadError(NO_TEXT_LAYER)
    recognised = any(pages_lines[number - 1] for number in scanned)
    return LoadedFile(lines=lines, format="pdf-ocr" if recognised else "pdf")


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
