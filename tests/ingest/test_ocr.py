"""OCR of scans and images: real pages of a real report rendered to images, read by the real engine.

The known text of each page (its text layer) lies next to the PDF in tests/data/ocr/. Error rates are
characters (edit distance over the known text's length, whitespace removed).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from ingest.errors import LoadError
from ingest.loaders import load_file
from ingest.loaders.ocr import NO_TEXT_IN_IMAGE
from ingest.pipeline import documents_from_loaded
from tests.ocr_pages import (REPORT, REPORT_PAGES, character_error_rate, image_pdf, known_text, photograph,
                             render)

CLEAN_CER = 0.03


def text_of(lines, page=None) -> str:
    return "\n".join(line.text for line in lines if page is None or line.page == page)


@pytest.fixture(scope="module")
def scans() -> list[Image.Image]:
    """Both report pages as a 200 dpi scanner gives them."""
    return [render(REPORT, index) for index in range(len(REPORT_PAGES))]


@pytest.mark.parametrize(("index", "suffix"), [(0, ".png"), (1, ".jpg")])
def test_clean_scanned_image_reads_within_3_percent(tmp_path, scans, index, suffix):
    path = tmp_path / f"scan{suffix}"
    scans[index].save(path, quality=85) if suffix == ".jpg" else scans[index].save(path)
    loaded = load_file(path)
    assert loaded.format == "image"
    assert all(line.joinable and line.page is None for line in loaded.lines)
    cer = character_error_rate(text_of(loaded.lines), known_text(REPORT_PAGES[index]))
    print(f"\n{path.name}: CER {cer:.2%}")
    assert cer <= CLEAN_CER


def test_scanned_pdf_keeps_page_numbers_and_cleans_like_text(tmp_path, scans, caplog):
    path = image_pdf(scans, tmp_path / "扫描件.pdf")
    assert not "".join(page.extract_text() for page in PdfReader(path).pages).strip()  # image only
    with caplog.at_level(logging.INFO, logger="ingest.loaders.pdf"):
        loaded = load_file(path)
    assert loaded.format == "pdf"
    assert sorted({line.page for line in loaded.lines}) == [1, 2]
    for page, original in enumerate(REPORT_PAGES, start=1):
        cer = character_error_rate(text_of(loaded.lines, page), known_text(original))
        print(f"\nscanned PDF page {page}: CER {cer:.2%}")
        assert cer <= CLEAN_CER
    # Progress on stderr, one line per page.
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records if "OCR read" in r.getMessage()] == \
        ["page 1 of 2", "page 2 of 2"]
    # Wrapped lines are re-joined and the heading stands alone, as for a PDF with a text layer.
    [document] = documents_from_loaded(loaded, str(path), "0" * 64, path.stem)
    paragraphs = [p.text for p in document.paragraphs]
    assert "一、2023年工作回顾" in [p.replace(" ", "") for p in paragraphs]
    opening = next(p for p in paragraphs if p.startswith("现在，我代表北京市人民政府"))
    assert opening.endswith("并请市政协委员提出意见。")
    assert {p.page for p in document.paragraphs} == {1, 2}


def test_mixed_pdf_reads_the_text_page_as_text_and_the_scan_by_ocr(tmp_path, scans):
    writer = PdfWriter()
    writer.add_page(PdfReader(REPORT).pages[0])  # page 1: the report's own text layer
    writer.add_page(PdfReader(image_pdf([scans[1]], tmp_path / "p2.pdf")).pages[0])  # page 2: a scan
    path = tmp_path / "混合.pdf"
    with path.open("wb") as f:
        writer.write(f)
    lines = load_file(path).lines
    first, second = text_of(lines, 1), text_of(lines, 2)
    assert character_error_rate(first, known_text(REPORT_PAGES[0])) == 0.0
    assert "2023 年" in first  # the text layer's own spacing: page 1 was not OCR'd
    assert character_error_rate(second, known_text(REPORT_PAGES[1])) <= CLEAN_CER
    assert sorted({line.page for line in lines}) == [1, 2]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_page_on_its_side_or_upside_down_is_read_upright(tmp_path, scans, degrees):
    # The top third of page 1 (title, heading, two paragraphs) keeps the test short.
    top = scans[0].crop((0, 0, scans[0].width, scans[0].height // 3))
    path = tmp_path / f"turned{degrees}.png"
    top.rotate(degrees, expand=True).save(path)
    read = text_of(load_file(path).lines)
    upright = text_of(load_file_from_image(top, tmp_path / "upright.png").lines)
    assert character_error_rate(read, upright) <= 0.01
    assert read.replace("\u3000", "").startswith("各位代表：")


def load_file_from_image(image: Image.Image, path):
    image.save(path)
    return load_file(path)


def test_photographed_page_turned_askew_noisy_and_unevenly_lit(tmp_path, scans):
    path = tmp_path / "手机拍照.jpg"
    photograph(scans[0]).save(path, quality=70)
    read = text_of(load_file(path).lines)
    cer = character_error_rate(read, known_text(REPORT_PAGES[0]))
    print(f"\nphotographed page (on its side, 2.5° askew, blur, noise, uneven light, JPEG 70): CER {cer:.2%}")
    assert cer <= 0.05
    assert "过去一年，在以习近平同志为核心的党中央坚强领导下" in read  # rows stay in reading order


def test_multi_page_tiff_numbers_its_pages(tmp_path, scans):
    strips = [scan.crop((0, 0, scan.width, scan.height // 5)) for scan in scans]
    path = tmp_path / "两页.tif"
    strips[0].save(path, save_all=True, append_images=strips[1:], compression="tiff_lzw")
    lines = load_file(path).lines
    assert sorted({line.page for line in lines}) == [1, 2]
    assert text_of(lines, 1).startswith("各位代表：")
    assert text_of(lines, 2).startswith("企业风险")


def test_image_without_text_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    blank = tmp_path / "空白.png"
    Image.new("RGB", (1200, 1600), "white").save(blank)
    # A photo of no text: smooth shapes and grain.
    ys, xs = np.mgrid[0:600, 0:800]
    scene = (128 + 100 * np.sin(xs / 90.0) * np.cos(ys / 70.0))[:, :, None] + rng.normal(0, 4, (600, 800, 3))
    photo = tmp_path / "风景.jpg"
    Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).save(photo)
    for path in (blank, photo):
        with pytest.raises(LoadError, match=re.escape(NO_TEXT_IN_IMAGE)):
            load_file(path)


def test_corrupt_and_mislabelled_images_are_refused(tmp_path, scans):
    good = tmp_path / "good.png"
    scans[0].crop((0, 0, 400, 300)).save(good)
    truncated = tmp_path / "截断.png"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(LoadError, match="^corrupt image"):
        load_file(truncated)
    text = tmp_path / "其实是文本.jpg"
    text.write_text("这不是图片", encoding="utf-8")
    with pytest.raises(LoadError, match="not an image that can be read"):
        load_file(text)


def test_scanned_pdf_of_blank_pages_is_refused(tmp_path):
    path = image_pdf([Image.new("RGB", (1240, 1754), "white")] * 2, tmp_path / "空白扫描.pdf")
    with pytest.raises(LoadError, match="no page has a text layer, and OCR found no text"):
        load_file(path)


NO_NETWORK = """
import sys
def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        raise OSError(f"network use refused: {event} {args[1] if event == 'socket.connect' else args[0]}")
sys.addaudithook(refuse)
from pathlib import Path
from ingest.loaders import load_file
print(load_file(Path(sys.argv[1])).lines[0].text)
"""


def test_ocr_models_come_from_the_package_and_nothing_reaches_the_network(tmp_path, scans):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "strip.png"
    scans[0].crop((0, 0, scans[0].width, 260)).save(path)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", NO_NETWORK, str(path)], capture_output=True, text=True,
                            cwd=root, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "各位代表："
