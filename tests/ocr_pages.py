"""Scanned pages for the OCR tests and benchmark, made from a real text PDF, and how to score a reading.

`tests/data/ocr/` holds two pages of a real report with a text layer and, next to them, their known
text (the text layer); scans are rendered from the PDF, and a photographed page is made from a clean
scan (turned on its side and a little askew, uneven light, blur, noise, JPEG).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

DATA = Path(__file__).resolve().parent / "data" / "ocr"
REPORT = DATA / "beijing_2024_report_pages_1_4.pdf"
# The page numbers of the original report, in the order of the excerpt's pages.
REPORT_PAGES = (1, 4)


def known_text(original_page: int) -> str:
    """The text of a report page, as its text layer holds it."""
    return (DATA / f"beijing_2024_report_page_{original_page}.txt").read_text(encoding="utf-8")


def render(pdf: Path, index: int, dpi: int = 200) -> Image.Image:
    """Page ``index`` (0-based) of ``pdf`` as an RGB image, as a scanner at ``dpi`` would give it."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return document[index].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()


def image_pdf(images: list[Image.Image], path: Path, dpi: int = 200) -> Path:
    """An image-only PDF (no text layer), one page per image, as a scanner writes it."""
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return path


def photograph(page: Image.Image, seed: int = 7) -> Image.Image:
    """A clean page made to look photographed: on its side and 2.5° askew on a grey desk,
    lit unevenly, slightly out of focus, with sensor noise."""
    rng = np.random.default_rng(seed)
    small = page.resize((page.width * 3 // 4, page.height * 3 // 4), Image.LANCZOS)
    turned = small.rotate(92.5, resample=Image.BICUBIC, expand=True, fillcolor=(96, 96, 92))
    pixels = np.asarray(turned, dtype=np.float32)
    height, width = pixels.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    # Light falls off from one corner: 100 % to 65 %.
    light = 1.0 - 0.35 * np.hypot(xs / width, ys / height) / np.sqrt(2)
    pixels = pixels * light[:, :, None] * np.array([1.0, 0.97, 0.9])  # warm lamp light
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 10, (height, width, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def squeeze(text: str) -> str:
    """Text without whitespace: what a character error rate compares."""
    return re.sub(r"\s+", "", text)


def character_error_rate(read: str, known: str) -> float:
    """Edit distance (insertions, deletions, substitutions) over the known text's length, whitespace removed."""
    read, known = squeeze(read), squeeze(known)
    if not known:
        return float(bool(read))
    previous = np.arange(len(known) + 1)
    codes = np.array([ord(c) for c in known])
    for i, char in enumerate(read, start=1):
        substitution = previous[:-1] + (codes != ord(char))
        current = np.empty_like(previous)
        current[0] = i
        current[1:] = np.minimum(substitution, previous[1:] + 1)
        # Insertions run along the row: a running minimum of (cost - index) does it without a Python loop.
        current = np.minimum.accumulate(current - np.arange(len(current))) + np.arange(len(current))
        previous = current
    return float(previous[-1]) / len(known)
