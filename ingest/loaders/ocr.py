"""Text recognition (OCR) of scanned pages and photos: a page image in, its text lines out.

The engine is RapidOCR (PaddleOCR's PP-OCRv4 Chinese detection and recognition models run by
ONNX Runtime); its models ship inside the ``rapidocr_onnxruntime`` wheel, so nothing is
downloaded. It is loaded on the first page that needs it and kept for the process.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ingest.errors import LoadError

logger = logging.getLogger(__name__)

# Recognised pieces below this confidence are noise: fragments of a seal, specks, ruled lines.
MIN_SCORE = 0.6
# Two pieces are on one line when their vertical spans overlap by this share of the shorter one.
SAME_LINE_OVERLAP = 0.5
# A gap wider than this many line heights between two pieces of a line is kept as a space
# (a secrecy mark in one corner and a number in the other); narrower gaps join the pieces.
SPACE_GAP = 1.5
# A line starting this many line heights right of the text's left edge is indented: the first line
# of a paragraph (two characters in an official document). Further right it is centred or aligned
# right (a title, a signature), which says nothing about paragraphs.
INDENT_MIN, INDENT_MAX = 0.8, 3.0
# Lines at least this share of the widest line's width show where the left edge is.
FULL_LINE_SHARE = 0.6
# A page is turned when most of its pieces (at least this many) say so: lines standing upright
# (this much taller than wide), or lines the direction classifier finds upside down (this sure).
MIN_PIECES_TO_TURN = 3
SIDEWAYS_RATIO = 1.5
UPSIDE_DOWN_SCORE = 0.9
MAX_PIECES_TO_CLASSIFY = 40
# A page whose lines slope by this much or more is straightened and read again.
DESKEW_DEGREES = 1.0
# Pages are recognised at most this many pixels on their long side: an A4 page at ~140 dpi, where
# 三号 body text is ~30 pixels high. The detector's memory grows with the pixels (measured on an A4
# notice: peak RSS 650 MB at 1,600, 860 MB at 2,000, with no fewer characters read right).
MAX_SIDE = 1600

NO_TEXT_RECOGNISED = "no text recognised (a blank page, or a scan too faint or too small to read)"
OCR_MISSING = (
    "scanned page, but the OCR engine cannot be loaded: pip install rapidocr-onnxruntime "
    "(it brings its own models; OpenCV needs libGL: apt-get install libgl1)"
)

# A redacted number (xx, xxx) read with mixed case ("Xx"): the recogniser's confusion, not the text's.
_MIXED_CASE_REDACTION = re.compile(r"(?<![A-Za-z])(?=[xX]*x)(?=[xX]*X)[xX]{2,4}(?![A-Za-z])")

_engine = None
_engine_lock = threading.Lock()


@dataclass(frozen=True)
class Piece:
    """One recognised piece of text and its box on the page."""

    text: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def width(self) -> float:
        return self.right - self.left


def recognise_page(image: Image.Image) -> list[str]:
    """The text lines of one page image, top to bottom, each line's pieces left to right.

    A page scanned sideways, upside down or askew is turned upright first, and read again. A paragraph's
    indented first line starts with two ideographic spaces, as typed text does, so that cleaning
    starts a paragraph there.
    """
    image = _fit(image).convert("RGB")
    pieces, skew = _read(image)
    if is_sideways(pieces):
        # Scanned at 90°: turn it a quarter; if that leaves it upside down, the check below turns it round.
        image = image.rotate(90, expand=True)
        pieces, skew = _read(image)
    if _upside_down(image, pieces):
        image = image.rotate(180)
        pieces, skew = _read(image)
    if abs(skew) >= DESKEW_DEGREES:
        # Lines that slope run into their neighbours when pieces are grouped into rows.
        image = image.rotate(skew, expand=True, fillcolor="white", resample=Image.BICUBIC)
        pieces, _ = _read(image)
    lines = group_lines(pieces)
    indented = _indented(lines)
    return [("\u3000\u3000" if flag else "") + restore_redactions(_join(line)) for line, flag in zip(lines, indented)]


def is_sideways(pieces: list[Piece]) -> bool:
    """True when most pieces are tall and narrow: lines of a page lying on its side."""
    tall = sum(piece.height >= SIDEWAYS_RATIO * piece.width for piece in pieces)
    return len(pieces) >= MIN_PIECES_TO_TURN and tall > len(pieces) / 2


def _upside_down(image: Image.Image, pieces: list[Piece]) -> bool:
    """True when the engine's direction classifier finds most lines of the page upside down.

    The engine turns each upside-down line round before reading it, so its words come out right,
    but the lines and their pieces come out in reverse order.
    """
    wide = [piece for piece in pieces if piece.width >= 2 * piece.height][:MAX_PIECES_TO_CLASSIFY]
    if len(wide) < MIN_PIECES_TO_TURN:
        return False
    crops = [_bgr(image.crop((int(p.left), int(p.top), int(p.right), int(p.bottom)))) for p in wide]
    _, directions, _ = _get_engine().text_cls(crops)
    turned = sum(label == "180" and float(score) >= UPSIDE_DOWN_SCORE for label, score in directions)
    return turned > len(wide) / 2


def _read(image: Image.Image) -> tuple[list[Piece], float]:
    """The recognised pieces and the skew of the page's lines in degrees (positive: sloping down to the right)."""
    engine = _get_engine()
    try:
        result, _ = engine(_bgr(image))
    except Exception as e:  # the engine (OpenCV, ONNX Runtime) documents no exception types of its own
        raise LoadError(f"OCR failed on a page: {type(e).__name__}: {e}") from e
    kept = [(box, text.strip()) for box, text, score in result or [] if float(score) >= MIN_SCORE and text.strip()]
    pieces = [
        Piece(text, min(x for x, _ in box), min(y for _, y in box), max(x for x, _ in box), max(y for _, y in box))
        for box, text in kept
    ]
    # The engine's boxes run clockwise from the top left corner; long pieces give the slope best.
    slopes = sorted(
        math.degrees(math.atan2(box[1][1] - box[0][1], box[1][0] - box[0][0]))
        for box, _ in kept
        if box[1][0] - box[0][0] >= 4 * abs(box[3][1] - box[0][1])
    )
    skew = slopes[len(slopes) // 2] if len(slopes) >= MIN_PIECES_TO_TURN else 0.0
    return pieces, skew


def _bgr(image: Image.Image) -> np.ndarray:
    # The engine reads OpenCV's BGR order.
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def restore_redactions(text: str) -> str:
    """``Xx`` / ``xX`` standing alone (not inside a Latin word) back to ``xx``: redacted numbers are lower case."""
    return _MIXED_CASE_REDACTION.sub(lambda m: m.group(0).lower(), text)


def group_lines(pieces: list[Piece]) -> list[list[Piece]]:
    """Pieces grouped into lines by vertical overlap; lines top to bottom, pieces left to right."""
    lines: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: (p.top + p.bottom) / 2):
        line = lines[-1] if lines else None
        if line is not None and _overlap(line, piece) >= SAME_LINE_OVERLAP:
            line.append(piece)
        else:
            lines.append([piece])
    return [sorted(line, key=lambda p: p.left) for line in lines]


def _indented(lines: list[list[Piece]]) -> list[bool]:
    if not lines:
        return []
    widths = [line[-1].right - line[0].left for line in lines]
    widest = max(widths)
    edge = min(line[0].left for line, width in zip(lines, widths) if width >= FULL_LINE_SHARE * widest)
    heights = sorted(piece.height for line in lines for piece in line)
    height = heights[len(heights) // 2]
    return [INDENT_MIN * height <= line[0].left - edge <= INDENT_MAX * height for line in lines]


def _overlap(line: list[Piece], piece: Piece) -> float:
    top = min(p.top for p in line)
    bottom = max(p.bottom for p in line)
    shared = min(bottom, piece.bottom) - max(top, piece.top)
    return shared / max(1.0, min(bottom - top, piece.height))


def _join(line: list[Piece]) -> str:
    text = line[0].text
    for before, piece in zip(line, line[1:]):
        gap = piece.left - before.right
        text += (" " if gap > SPACE_GAP * max(before.height, piece.height) else "") + piece.text
    return text


def _fit(image: Image.Image) -> Image.Image:
    if max(image.size) <= MAX_SIDE:
        return image
    scale = MAX_SIDE / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def _get_engine():
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as e:
                # Also when OpenCV is installed but a system library it needs is not (libGL.so.1: apt-get install libgl1).
                raise LoadError(f"{OCR_MISSING}; {e}") from e
            logger.info("loading the OCR engine (RapidOCR, PP-OCRv4)")
            _engine = RapidOCR()
        return _engine
