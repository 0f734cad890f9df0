"""Optical character recognition of page images: scanned PDF pages, photos, image files.

The engine is RapidOCR with the PP-OCR models (text detection, recognition; Chinese and Latin)
that ship inside its wheel: they are opened from the installed package by path, so nothing is
ever downloaded. The engine, OpenCV and ONNX Runtime are imported and loaded on the first page
that needs them, never by the query path.

A page is read in three steps: detect the text lines once; find which way up the page is
(lines taller than wide mean a page turned by 90°, and a handful of line starts read both ways
up tell 0° from 180°); then read every line of the upright page. Lines on one row are joined
left to right, and a row that starts well right of the text's left edge gets the two-character
indent that opens a paragraph, so that cleaning can re-join wrapped lines as in any PDF.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from ingest.errors import LoadError

logger = logging.getLogger(__name__)

# The models inside the rapidocr wheel (rapidocr 3.10: PP-OCRv6 small detection and recognition).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# Detection runs on the page scaled to this longest side: text lines are found as well as at
# full size, in a third of the time. Recognition reads the lines from the full page.
DET_SIDE = 1280
# A page larger than this (longest side, pixels) is scaled down before anything else.
MAX_SIDE = 2400
# Lines are read at the recognition model's height (48 px) and squeezed to this share of their
# width. Reading lines is most of the work and its cost follows the width: at 0.6 a page is read
# in ~60 % of the time, with no loss on clean scans and 0.8 % CER instead of 0.7 % on the
# photographed test page (at 0.5: 1.4 %).
REC_HEIGHT = 48
REC_SQUEEZE = 0.6
# A line read with less confidence than this is dropped (noise, specks, a seal's ring text).
MIN_LINE_SCORE = 0.5
# How many line starts are read both ways up to tell an upright page from one upside down.
ORIENTATION_SAMPLES = 6
# A row starting this many line heights right of the text's left edge is indented.
INDENT_HEIGHTS = 1.0
# A vertical gap of this many line heights between rows is a blank line.
BLANK_GAP_HEIGHTS = 1.6
# A page whose pixels barely vary holds nothing to read.
BLANK_PAGE_STD = 2.0

_LOCK = threading.Lock()

NO_TEXT_IN_IMAGE = "no text found in the image (OCR read nothing)"


@dataclass(frozen=True)
class OcrLine:
    """One line of a page as read: its text, its confidence and where it sits."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass
class OcrPage:
    """What OCR read on one page: the text rows in reading order, and which way up it was."""

    rows: list[str]
    turned: int  # degrees the page was turned (counter-clockwise) to stand upright
    score: float  # mean confidence of the lines kept, 0 when none

    @property
    def characters(self) -> int:
        return sum(len(row.strip()) for row in self.rows)


@functools.cache
def _engine() -> Any:
    """The RapidOCR engine, built once per process on first use, from the models in its wheel."""
    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as e:  # the package is a dependency; a broken install says so
        raise LoadError(f"OCR is not available ({e}): reinstall xunshi's dependencies (pip install rapidocr)") from e
    models = Path(rapidocr.__file__).parent / "models"
    paths = {name: models / name for name in (DET_MODEL, REC_MODEL, CLS_MODEL)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise LoadError(f"OCR models missing from the rapidocr package ({', '.join(missing)} not in {models}): "
                        "reinstall rapidocr==3.10.0")
    # Explicit model paths: RapidOCR only looks for (and would download) models when none is given.
    return RapidOCR(params={
        "Global.log_level": "warning",
        "Global.text_score": 0.0,  # filtered here, after the orientation is known
        "Global.max_side_len": MAX_SIDE,
        "Det.model_path": str(paths[DET_MODEL]),
        "Det.limit_type": "max",
        "Det.limit_side_len": DET_SIDE,
        "Rec.model_path": str(paths[REC_MODEL]),
        "Cls.model_path": str(paths[CLS_MODEL]),
    })


def is_blank(image: np.ndarray) -> bool:
    """True for a page of one even tone (an empty page): nothing to read."""
    return float(image.std()) < BLANK_PAGE_STD


def read_page(image: np.ndarray) -> OcrPage:
    """Read one page image (H×W×3 RGB, uint8): its rows of text, upright, in reading order."""
    import cv2
    from rapidocr.inference_engine.onnxruntime.main import ONNXRuntimeError

    with _LOCK:  # one engine per process; its call options are state
        try:
            return _read_page(_engine(), np.ascontiguousarray(image))
        except (ONNXRuntimeError, cv2.error, ValueError, MemoryError) as e:
            raise LoadError(f"OCR failed on this page: {e}") from e


def _read_page(engine: Any, image: np.ndarray) -> OcrPage:
    detected = engine(image, use_det=True, use_cls=False, use_rec=False)
    boxes = getattr(detected, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return OcrPage(rows=[], turned=0, score=0.0)
    boxes = [np.asarray(b, dtype=np.float32) for b in boxes]
    turned = 0
    if _mostly_tall(boxes):
        image, boxes = _turn(image, boxes, 90)
        turned = 90
    if _upside_down(engine, image, boxes):
        image, boxes = _turn(image, boxes, 180)
        turned += 180
    # Rows are found on the boxes turned level: on a page photographed askew, the two halves of
    # one line stand at different heights, and the next line's start can stand between them.
    skew = _skew(boxes)
    cos, sin = np.cos(-skew), np.sin(-skew)
    lines = []
    for box in boxes:
        text, score = _recognise(engine, _crop(image, box))
        if text.strip() and score >= MIN_LINE_SCORE:
            xs = box[:, 0] * cos - box[:, 1] * sin
            ys = box[:, 0] * sin + box[:, 1] * cos
            lines.append(OcrLine(text.strip(), score, float(xs.min()), float(ys.min()),
                                 float(xs.max()), float(ys.max())))
    score = float(np.mean([line.score for line in lines])) if lines else 0.0
    return OcrPage(rows=layout_rows(lines), turned=turned, score=score)


def image_to_rgb(image: Any) -> np.ndarray:
    """A Pillow image as an RGB array: transparency laid on white, 16-bit and float scans scaled to 8 bits."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        image = Image.fromarray(scaled.astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))


# --- orientation -------------------------------------------------------------------------------


def _sides(box: np.ndarray) -> tuple[float, float]:
    width = float(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = float(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    return width, height


def _mostly_tall(boxes: list[np.ndarray]) -> bool:
    """True when most of the detected text (by area) runs top to bottom: the page lies on its side."""
    tall = wide = 0.0
    for box in boxes:
        width, height = _sides(box)
        if height > 1.5 * width:
            tall += width * height
        elif width > 1.5 * height:
            wide += width * height
    return tall > wide


def _turn(image: np.ndarray, boxes: list[np.ndarray], degrees: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Turn the page counter-clockwise by 90 or 180 degrees, and its boxes with it."""
    height, width = image.shape[:2]
    turned = []
    for box in boxes:
        x, y = box[:, 0], box[:, 1]
        if degrees == 90:  # np.rot90(k=1): (x, y) → (y, W - 1 - x)
            points = np.stack([y, width - 1 - x], axis=1)
        else:
            points = np.stack([width - 1 - x, height - 1 - y], axis=1)
        # Keep the corners clockwise from the top-left one, as the crop expects.
        start = int(np.argmin(points[:, 0] + points[:, 1]))
        turned.append(np.roll(points, -start, axis=0).astype(np.float32))
    return np.ascontiguousarray(np.rot90(image, degrees // 90)), turned


def _upside_down(engine: Any, image: np.ndarray, boxes: list[np.ndarray]) -> bool:
    """Read the start of the widest lines as they are and turned by 180°; the surer reading wins."""
    widest = sorted(boxes, key=lambda b: -_sides(b)[0])[:ORIENTATION_SAMPLES]
    upright = turned = 0.0
    for box in widest:
        crop = _crop(image, box)
        crop = crop[:, : max(crop.shape[0] * 10, 1)]
        upright += _recognise(engine, crop)[1]
        turned += _recognise(engine, np.ascontiguousarray(np.rot90(crop, 2)))[1]
    return turned > upright


def _skew(boxes: list[np.ndarray]) -> float:
    """The page's tilt in radians: the median slope of the top edges of its wider lines."""
    angles = [float(np.arctan2(box[1, 1] - box[0, 1], box[1, 0] - box[0, 0]))
              for box in boxes if _sides(box)[0] > 3 * _sides(box)[1]]
    return median(angles) if angles else 0.0


# --- recognition -------------------------------------------------------------------------------


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The line inside ``box`` (four corners clockwise from top-left), straightened."""
    import cv2

    width, height = (max(int(round(side)), 1) for side in _sides(box))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)


def _recognise(engine: Any, crop: np.ndarray) -> tuple[str, float]:
    """Read one line image: (text, confidence)."""
    import cv2

    if crop.shape[0] < 4 or crop.shape[1] < 4:
        return "", 0.0
    width = max(int(crop.shape[1] * REC_HEIGHT / crop.shape[0] * REC_SQUEEZE), 8)
    crop = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_AREA)
    result = engine(np.ascontiguousarray(crop), use_det=False, use_cls=False, use_rec=True)
    texts, scores = getattr(result, "txts", None), getattr(result, "scores", None)
    if not texts:
        return "", 0.0
    return str(texts[0]), float(scores[0])


# --- layout ------------------------------------------------------------------------------------


def layout_rows(lines: list[OcrLine]) -> list[str]:
    """Lines of a page in reading order, one string per row.

    Pieces on one row are joined left to right (a wide gap keeps a space); a row that starts
    well right of the body's left edge gets the ideographic indent that opens a paragraph; a wide
    vertical gap between rows becomes a blank row.
    """
    if not lines:
        return []
    unit = median(line.height for line in lines)
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.top + item.bottom) / 2):
        centre = (line.top + line.bottom) / 2
        if rows:
            last = rows[-1]
            row_centre = median((item.top + item.bottom) / 2 for item in last)
            if abs(centre - row_centre) < 0.5 * min(line.height, unit):
                last.append(line)
                continue
        rows.append([line])
    rows = [sorted(row, key=lambda item: item.left) for row in rows]
    body = [row for row in rows if row[-1].right - row[0].left >= 0.5 * max(r[-1].right - r[0].left for r in rows)]
    margin = min(row[0].left for row in body)
    out: list[str] = []
    previous_bottom: float | None = None
    for row in rows:
        top = min(item.top for item in row)
        if previous_bottom is not None and out and top - previous_bottom > BLANK_GAP_HEIGHTS * unit:
            out.append("")
        text = row[0].text
        for before, after in zip(row, row[1:]):
            text += (" " if after.left - before.right > unit else "") + after.text
        indent = "\u3000\u3000" if row[0].left - margin > INDENT_HEIGHTS * unit else ""
        out.append(indent + text)
        previous_bottom = max(item.bottom for item in row)
    return out
