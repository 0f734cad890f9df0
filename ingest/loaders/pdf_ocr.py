"""Pages of a PDF that have no text layer (scans), rendered by PDFium and read by OCR."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from ingest.errors import LoadError
from ingest.loaders.image import ocr_lines
from ingest.loaders.ocr import MAX_SIDE
from ingest.models import Line

# Render resolution, and at most the pixels the engine reads (an A4 page comes out at ~140 dpi).
RENDER_DPI = 200
MAX_RENDER_SIDE = MAX_SIDE


def ocr_pdf_pages(path: Path, numbers: Iterable[int]) -> dict[int, list[Line]]:
    """The OCR lines of the given 1-based pages of a PDF, by page number; blank pages give no lines.

    Raises:
        LoadError: PDFium cannot open the file.
    """
    try:
        document = pdfium.PdfDocument(str(path), password="")
    except pdfium.PdfiumError as e:
        raise LoadError(f"cannot render the scanned pages of this PDF: {e}") from e
    try:
        return {number: ocr_lines([render_page(document[number - 1])], first_page=number, name=path.name) for number in numbers}
    finally:
        document.close()


def render_page(page: pdfium.PdfPage) -> Image.Image:
    """The page as an RGB image at ``RENDER_DPI``, its long side at most ``MAX_RENDER_SIDE`` pixels."""
    width, height = page.get_size()
    scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1))
    return page.render(scale=scale).to_pil().convert("RGB")
