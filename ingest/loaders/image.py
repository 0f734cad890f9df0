"""Scans and photos (.png, .jpg, .tif...): every page recognised by OCR, one joinable Line per text line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ingest.errors import LoadError
from ingest.loaders.ocr import NO_TEXT_RECOGNISED, recognise_page
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
# A photo of a page is a few thousand pixels a side; far more is a decompression bomb.
MAX_PIXELS = 60_000_000
# A page with no pixel darker than this (0-255) is blank: nothing to recognise.
INK_LEVEL = 160
# A multi-page TIFF of more pages than this is not a document scan.
MAX_PAGES = 500


def load_image(path: Path) -> LoadedFile:
    """Recognise the text of an image file; a multi-page TIFF gives one page per frame.

    A phone photo's EXIF orientation is applied first, so a page photographed sideways reads
    upright.

    Raises:
        LoadError: not an image, damaged, too many pixels, or no text recognised on any page.
    """
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise LoadError(f"image too large ({image.width}x{image.height} pixels, limit {MAX_PIXELS:,})")
            lines = ocr_lines(_frames(image), name=path.name)
    except LoadError:
        raise
    except UnidentifiedImageError as e:
        raise LoadError("not a readable image (damaged, or not the format its extension names)") from e
    except Image.DecompressionBombError as e:
        raise LoadError(f"image too large: {e}") from e
    except (OSError, ValueError, SyntaxError) as e:
        # Pillow raises these on truncated or damaged image data.
        raise LoadError(f"damaged image: {e}") from e
    if not lines:
        raise LoadError(NO_TEXT_RECOGNISED)
    return LoadedFile(lines=lines, format="image")


def ocr_lines(pages: Iterable[Image.Image], first_page: int = 1, name: str = "") -> list[Line]:
    """OCR each page image; lines keep their page number and may be re-joined (a scan's line break
    says nothing about sentences). No blank line is put between pages, as for a PDF. A blank page
    is skipped without running OCR."""
    lines: list[Line] = []
    for number, page in enumerate(pages, start=first_page):
        if not has_ink(page):
            logger.info("%s: page %d is blank", name, number)
            continue
        started = time.perf_counter()
        texts = recognise_page(page)
        logger.info("%s: page %d read by OCR in %.1f s, %d lines", name, number, time.perf_counter() - started, len(texts))
        lines.extend(Line(text, page=number, joinable=True) for text in texts)
    return lines


def has_ink(image: Image.Image) -> bool:
    """True when some pixel of the image is dark enough to be print."""
    darkest, _ = image.convert("L").getextrema()
    return darkest < INK_LEVEL


def _frames(image: Image.Image) -> Iterable[Image.Image]:
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_PAGES:
        raise LoadError(f"too many pages ({frames} frames, limit {MAX_PAGES})")
    for index in range(frames):
        image.seek(index)
        frame = ImageOps.exif_transpose(image)
        yield frame.convert("RGB")
