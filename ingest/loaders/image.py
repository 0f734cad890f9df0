"""Image files (scans and photos of pages): read by OCR, one joinable Line per text row.

A multi-page TIFF gives one page per frame, numbered from 1; a single image has no page number.
A photo's EXIF orientation is applied before reading, and a page turned by 90° or 180° is set
upright by the OCR itself.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders._text import page_lines
from ingest.loaders.ocr import NO_TEXT_IN_IMAGE, OcrPage, image_to_rgb, is_blank, read_page
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)

# Pillow warns past ~89 megapixels and refuses past ~179; a scan of an A0 sheet at 300 dpi is ~140 MP,
# so only the refusal is kept: it stops files built to exhaust memory.
MAX_PIXELS = 180_000_000


def load_image(path: Path) -> LoadedFile:
    """Read an image file's text by OCR.

    Raises:
        LoadError: not an image Pillow can open (corrupt, truncated, another format under an
            image name), too many pixels, or no text found on any page.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    lines: list[Line] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise LoadError(f"image too large to read ({image.width} × {image.height} pixels)")
                frames = getattr(image, "n_frames", 1)
                for index in range(frames):
                    image.seek(index)
                    page = index + 1 if frames > 1 else None
                    upright = ImageOps.exif_transpose(image)
                    pixels = image_to_rgb(upright)
                    lines.extend(_frame_lines(path, pixels, page, frames))
    except LoadError:
        raise
    except Image.DecompressionBombError as e:
        raise LoadError(f"image too large to read ({e})") from e
    except UnidentifiedImageError as e:
        raise LoadError("not an image that can be read (corrupt, or another format under an image name)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # what Pillow raises on damaged data
        raise LoadError(f"corrupt image: {e}") from e
    if not any(line.text for line in lines):
        raise LoadError(NO_TEXT_IN_IMAGE)
    return LoadedFile(lines=lines, format="image")


def _frame_lines(path: Path, pixels, page: int | None, pages: int) -> list[Line]:
    where = f"{path.name}" + (f": page {page} of {pages}" if page else "")
    if is_blank(pixels):
        logger.info("%s: blank, nothing to read", where)
        return []
    started = time.perf_counter()
    result = read_page(pixels)
    logger.info("%s: OCR read %d characters in %.1f s%s", where, result.characters,
                time.perf_counter() - started, _turn_note(result))
    return ocr_lines(result, page)


def ocr_lines(result: OcrPage, page: int | None) -> list[Line]:
    """The rows OCR read on a page as joinable lines, blank rows kept (one at most, none at the ends)."""
    return page_lines(result.rows, page)


def _turn_note(result: OcrPage) -> str:
    return f" (page turned upright by {result.turned}°)" if result.turned else ""
