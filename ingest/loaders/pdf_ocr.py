"""Pages of a PDF that have no text layer (scans), rendered by PDFium and read by OCR."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from ingest.errors import LoadError
from ingest.loaders.image import ocr_lines
from ingest.loaders.ocr import MAX_SIDE
from ingest.models import Line

logger = logging.getLogger(__name__)

# Render resolution, and at most the pixels the engine reads (an A4 page comes out at ~140 dpi).
RENDER_DPI = 200
MAX_RENDER_SIDE = MAX_SIDE


def ocr_pdf_pages(path: Path, numbers: Iterable[int]) -> dict[int, list[Line]]:
    """The OCR lines of the given 1-based pages of a PDF, by page number; blank pages give no lines,
    and a page PDFium cannot render is logged and left out.

    Raises:
        LoadError: PDFium cannot open the file.
    """
    try:
        document = pdfium.PdfDocument(str(path), password="")
    except pdfium.PdfiumError as e:
        raise LoadError(f"cannot render the scanned pages of this PDF: {e}") from e
    try:
        result = {}
        for number in numbers:
            try:
                image = render_page(document[number - 1])
            except pdfium.PdfiumError as e:
                logger.warning("%s: page %d cannot be rendered for OCR, skipped: %s", path.name, number, e)
                continue
            result[number] = ocr_lines([image], first_page=number, name=path.name)
        return result
    finally:
        document.close()


def render_page(page: pdfium.PdfPage) -> Image.Image:
    """The page as an RGB image at ``RENDER_DPI``, its long side at most ``MAX_RENDER_SIDE`` pixels."""
    width, height = page.get_size()
    scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1))
    return page.render(scale=scale).to_pil().convert("RGB")
