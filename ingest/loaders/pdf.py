"""PDF files: one joinable Line per line, with its page number.

A page with a text layer is read as text; a page without one (a scan) is rendered and read by
OCR, so a file that mixes both comes out whole.
"""

from __future__ import annotations

import logging
import time
import zlib
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from ingest.errors import LoadError
from ingest.loaders._text import page_lines, split_lines
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)

ENCRYPTED = "encrypted PDF: remove the password and ingest again"
NO_TEXT_LAYER = "no text: no page has a text layer, and OCR found no text on the scanned pages"
# Scanned pages are rendered at this resolution (A4 at 200 dpi: 1654 × 2339 pixels), larger pages smaller.
RENDER_DPI = 200

# What pypdf raises on damaged files besides its own errors.
_DAMAGED = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
            RecursionError, zlib.error)


def load_pdf(path: Path) -> LoadedFile:
    """Load a PDF's text, page by page: the text layer, or OCR where a page has none.

    Lines keep their 1-based page number and are joinable (a PDF line break says nothing about
    sentences). Blank lines at the top and bottom of a page are dropped and runs of blank lines
    inside a page become one; no blank line is added between pages. A PDF locked only by an
    owner password (empty user password) opens as usual. A page whose text cannot be extracted
    is logged and skipped; a page without a text layer is rendered and read by OCR (a blank
    page is skipped).

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
    lines: list[Line] = []
    scans = _ScannedPages(path, len(pages))
    try:
        for number, page in enumerate(pages, start=1):
            try:
                text = page.extract_text()
            except _DAMAGED as e:
                logger.warning("%s: page %d has unreadable text, skipped: %s", path.name, number, e)
                continue
            text_lines = page_lines(split_lines(text or ""), number)
            lines.extend(text_lines if text_lines else scans.read(number))
    finally:
        scans.close()
    if not lines:
        raise LoadError(NO_TEXT_LAYER)
    return LoadedFile(lines=lines, format="pdf")


class _ScannedPages:
    """Renders and reads pages that have no text layer; opens the file with PDFium on the first one."""

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        self.count = count
        self.document = None

    def read(self, number: int) -> list[Line]:
        import pypdfium2 as pdfium

        from ingest.loaders.image import ocr_lines
        from ingest.loaders.ocr import MAX_SIDE, image_to_rgb, is_blank, read_page

        where = f"{self.path.name}: page {number} of {self.count}"
        try:
            if self.document is None:
                self.document = pdfium.PdfDocument(self.path)
            page = self.document[number - 1]
            # A page larger than A4 is rendered no larger than OCR reads it (MAX_SIDE pixels).
            scale = min(RENDER_DPI / 72, MAX_SIDE / max(page.get_size()))
            pixels = image_to_rgb(page.render(scale=scale).to_pil())
            page.close()
        except (pdfium.PdfiumError, ValueError, IndexError) as e:
            logger.warning("%s: cannot be rendered for OCR, skipped: %s", where, e)
            return []
        if is_blank(pixels):
            logger.info("%s: no text layer and blank, skipped", where)
            return []
        started = time.perf_counter()
        try:
            result = read_page(pixels)
        except LoadError as e:
            logger.warning("%s: %s, skipped", where, e)
            return []
        turned = f", turned upright by {result.turned}°" if result.turned else ""
        logger.info("%s: no text layer, OCR read %d characters in %.1f s%s", where, result.characters,
                    time.perf_counter() - started, turned)
        return ocr_lines(result, number)

    def close(self) -> None:
        if self.document is not None:
            self.document.close()


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
