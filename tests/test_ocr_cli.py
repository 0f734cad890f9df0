"""Scans through the whole command line: a scanned PDF is ingested by OCR, found by a phrase of its body,
and cited with its page; an image with no text fails alone."""

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.ocr_pages import REPORT, REPORT_PAGES, image_pdf, render
from tests.processes import run_watching_imports

OCR_MODULES = ("rapidocr", "cv2", "pypdfium2")


def run(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``xunshi ARGS`` as a process: (result, the OCR modules it imported)."""
    return run_watching_imports(env, OCR_MODULES, *args, timeout=900)


def one_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def env(tmp_path_factory, e5_model_dir):
    home = tmp_path_factory.mktemp("ocr-home")
    return {"XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(e5_model_dir.parent)}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, env):
    folder = tmp_path_factory.mktemp("scans")
    image_pdf([render(REPORT, index) for index in range(len(REPORT_PAGES))], folder / "2024年政府工作报告_扫描件.pdf")
    Image.new("RGB", (800, 1100), "white").save(folder / "空白页.png")
    result, imported = run(env, "ingest", str(folder), "--json")
    return result, imported


def test_a_scan_is_ingested_and_an_image_without_text_fails_alone(ingested):
    result, imported = ingested
    assert result.returncode == 1, result.stderr  # one input failed, the rest was ingested
    payload = one_json(result.stdout)
    assert payload["added"] == 1 and payload["documents"] == 1
    assert [(Path(f["source"]).name, f["error"]) for f in payload["failed"]] == [
        ("空白页.png", "no text found in the image (OCR read nothing)")]
    assert "空白页.png" in result.stderr and "no text found in the image" in result.stderr
    # Progress, page by page, on stderr.
    assert "page 1 of 2: no text layer, OCR read" in result.stderr
    assert "page 2 of 2: no text layer, OCR read" in result.stderr
    assert "rapidocr" in imported


def test_search_finds_a_phrase_of_the_scan_and_shows_its_page(env, ingested):
    phrase = "紧急救援三列外来被困列车"  # on the scan's second page
    result, imported = run(env, "search", phrase, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    top = one_json(result.stdout)["results"][0]
    assert phrase in top["text"] and top["page"] == 2
    assert Path(top["source"]).name == "2024年政府工作报告_扫描件.pdf"
    assert imported == []  # the query path never loads the OCR engine
    text, _ = run(env, "search", phrase, "-k", "1")
    assert text.returncode == 0 and " 第2页" in text.stdout.splitlines()[0]


def test_answers_cite_the_page(env, ingested):
    result, imported = run(env, "ask", "“23·7”极端强降雨后如何紧急救援被困列车？", "--json")
    assert result.returncode == 0, result.stderr
    payload = one_json(result.stdout)
    assert payload["found"] is True, payload
    assert payload["citations"] and all(c["page"] in (1, 2) for c in payload["citations"])
    assert any(c["page"] == 2 and "被困列车" in c["text"] for c in payload["citations"])
    assert imported == []
    text, _ = run(env, "ask", "“23·7”极端强降雨后如何紧急救援被困列车？")
    cited = [line for line in text.stdout.splitlines() if line.startswith("[")]
    assert cited and all("扫描件.pdf 第" in line and line.endswith("页)") for line in cited)
