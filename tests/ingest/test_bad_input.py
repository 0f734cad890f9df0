"""One ingest over a folder of bad and awkward files, as a user runs it: each file gets the right outcome and a
clear message, the good files go in, and nothing stored before is lost or duplicated."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfWriter

from test_loaders import build_docx, write_text_pdf
from test_sheets import build_ledger, encrypt_workbook

ROOT = Path(__file__).parents[2]
GOOD = "2022年县委巡察工作总结\n\n一、主要做法\n全年开展两轮常规巡察，巡察xx个村（社区）党组织，推行“三色督办”机制。\n"


def xunshi(home: Path, models: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(models)}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def build_bad_corpus(folder: Path) -> dict[str, str | None]:
    """Files and the failure message each must get (None: ingested; 'skipped': listed as skipped)."""
    folder.mkdir()
    expect: dict[str, str | None] = {}

    def add(name: str, data: bytes, outcome: str | None) -> None:
        (folder / name).write_bytes(data)
        expect[name] = outcome

    add("空文件.txt", b"", "empty")
    add("只有空白.txt", b"  \n\t\n  ", "empty")
    add("乱码.txt", bytes(range(256)) * 40, "binary")
    docx_path = build_docx(folder / "完整.docx")  # nested tables inside
    expect[docx_path.name] = None
    (folder / "截断.docx").write_bytes(docx_path.read_bytes()[:2000])
    expect["截断.docx"] = "corrupt"
    with zipfile.ZipFile(folder / "炸弹.docx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(64):
                member.write(b"\0" * 2**20)
    expect["炸弹.docx"] = "zip bomb"
    write_text_pdf(folder / "加密.pdf", [["secret"]], password="user-secret")
    expect["加密.pdf"] = "encrypted PDF"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(folder / "扫描件.pdf")
    expect["扫描件.pdf"] = "OCR found no text on the scanned pages"
    blank = io.BytesIO()
    Image.new("RGB", (800, 1100), "white").save(blank, "PNG")
    add("空白扫描.png", blank.getvalue(), "no text found in the image")
    add("坏照片.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 200, "image")
    add("国标GBK.txt", GOOD.replace("2022", "2019").encode("gbk"), None)
    add("国标GB18030.txt", GOOD.replace("2022", "2018").replace("三色", "㐀三色").encode("gb18030"), None)
    add("UTF16.txt", GOOD.replace("2022", "2017").encode("utf-16"), None)
    add("巡察 报告 📄 终稿.txt", GOOD.replace("2022", "2016").encode("utf-8"), "twin")
    add("同样内容换个名字.txt", GOOD.replace("2022", "2016").encode("utf-8"), "twin")
    add("网页.html", ("<html><head><script>alert('x')</script><style>p{}</style></head><body><h1>2015年巡察通报</h1>"
                      "<p>通报巡察发现的问题。</p><script>document.write('bad')</script></body></html>").encode(), None)
    add("程序.exe", b"MZ\x90\x00", "skipped")
    ledger = build_ledger(folder / "台账.xlsx")  # a good ledger: its rows go in
    expect[ledger.name] = None
    add("截断台账.xlsx", ledger.read_bytes()[:3000], "corrupt .xlsx")
    add("加密台账.xlsx", encrypt_workbook(ledger), "encrypted workbook (password-protected)")
    add("只有表头.csv", "序号,问题描述,整改措施\r\n合计,,\r\n".encode("gbk"),
        "no data rows (a header but no data rows under it)")
    return expect


def test_a_folder_of_bad_input(tmp_path, e5_model_dir):
    models = e5_model_dir.parent
    home = tmp_path / "home"
    first = xunshi(home, models, "ingest", str(ROOT / "examples"), "--json")
    assert first.returncode == 0, first.stderr
    before = json.loads(xunshi(home, models, "docs", "list", "--json").stdout)

    folder = tmp_path / "材料"
    expect = build_bad_corpus(folder)
    result = xunshi(home, models, "ingest", str(folder), "--json")
    assert result.returncode == 1, result.stderr  # some input failed, the rest was processed
    report = json.loads(result.stdout)
    failed = {Path(f["source"]).name: f["error"] for f in report["failed"]}
    skipped = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    for name, outcome in expect.items():
        if outcome == "twin":
            continue
        if outcome is None:
            assert name not in failed and name not in skipped, (name, failed.get(name), skipped.get(name))
        elif outcome == "skipped":
            assert name in skipped, name
        else:
            assert name in failed and outcome in failed[name], (name, failed.get(name))
            assert name in result.stderr  # one line on stderr names the file and the reason
    twins = [name for name, outcome in expect.items() if outcome == "twin"]
    skipped_twins = [name for name in twins if name in skipped]
    assert len(skipped_twins) == 1 and "same content as" in skipped[skipped_twins[0]]  # one stored, one reported
    assert not set(twins) & set(failed)
    assert "unsupported" in skipped["程序.exe"]
    ingested = sum(outcome is None for outcome in expect.values()) + 1
    assert report["added"] == ingested

    after = json.loads(xunshi(home, models, "docs", "list", "--json").stdout)
    old = {d["doc_id"]: d["chunks"] for d in before["documents"]}
    assert {d["doc_id"]: d["chunks"] for d in after["documents"] if d["doc_id"] in old} == old  # nothing lost
    assert after["count"] == before["count"] + ingested
    titles = [d["title"] for d in after["documents"]]
    assert len(titles) == len(set(titles))  # nothing stored twice
    html_doc = xunshi(home, models, "search", "通报巡察发现的问题", "-k", "1", "--json")
    text = json.loads(html_doc.stdout)["results"][0]["text"]
    assert "通报巡察发现的问题" in text and "alert" not in text and "document.write" not in text
    found = json.loads(xunshi(home, models, "search", "“三色督办”", "-k", "10", "--json").stdout)["results"]
    sources = {Path(r["source"]).name for r in found if "三色督办" in r["text"]}
    assert {"国标GBK.txt", "国标GB18030.txt", "UTF16.txt"} <= sources and len(sources & set(twins)) == 1

    # A path with ../ in it is the same file: nothing new, nothing doubled.
    (folder / "子目录").mkdir()
    again = xunshi(home, models, "ingest", str(folder / "子目录" / ".." / "UTF16.txt"), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 1
    assert json.loads(xunshi(home, models, "docs", "list", "--json").stdout)["count"] == after["count"]


pytestmark = pytest.mark.slow


# Runs the command line with Python's allocations traced from the moment the PyTorch model is loaded (the
# model's own weights are not the ingest's; it is loaded when the first passage is embedded) and prints, last
# on stderr: the peak (bytes) while the file is read, embedded and stored; the peak of what follows it, the
# preparation for queries (the query model's export, once per model, and the lexical index over every chunk
# in the store); and the peak RSS (KB).
TRACED_CLI = """
import json, resource, sys, tracemalloc
import vectorstore.embeddings as embeddings
import assistant.services as services
load, prepare, peaks = embeddings.load_model, services.prepare_for_queries, {}
def traced_after_load(*args):
    model = load(*args)
    tracemalloc.start()
    return model
def prepare_traced_apart(*args):
    peaks["ingest"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    prepare(*args)
    peaks["prepare"] = tracemalloc.get_traced_memory()[1]
embeddings.load_model = traced_after_load
services.prepare_for_queries = prepare_traced_apart
from assistant.cli import main
code = main(sys.argv[1:])
print(json.dumps({"python_peak": peaks.get("ingest"), "prepare_peak": peaks.get("prepare"),
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), file=sys.stderr)
sys.exit(code)
"""


def write_big_text(path: Path, megabytes: int) -> None:
    """A report of ``megabytes`` MB: one sample section after another, then a closing section of its own."""
    sample = (ROOT / "examples" / "2021年巡视巡察工作综述汇编（3篇）.txt").read_text(encoding="utf-8")
    section = sample[sample.index("2021年，自治区党委巡视工作") : sample.index("2021年巡视巡察工作综述\n", 200)] + "\n"
    repeats = megabytes * 2**20 // len(section.encode()) + 1
    with path.open("w", encoding="utf-8") as f:
        f.write("2023年巡视巡察工作资料汇集\n\n")
        for _ in range(repeats):
            f.write(section)
        f.write("四、结尾\n本汇集最后一段：某县巡察整改台账共计一百三十七项，已全部销号。\n")


def test_a_50_mb_text_file_is_read_in_parts_in_bounded_memory(tmp_path, e5_model_dir):
    from assistant.services import build_chroma_client
    from assistant.settings import Settings

    models, home = e5_model_dir.parent, tmp_path / "home"
    big = tmp_path / "资料汇集.txt"
    write_big_text(big, 50)
    assert big.stat().st_size >= 50 * 2**20
    env = {**os.environ, "XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(models)}
    run = subprocess.run([sys.executable, "-c", TRACED_CLI, "ingest", str(big), "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-2000:]
    memory = json.loads(run.stderr.strip().splitlines()[-1])
    report = json.loads(run.stdout)
    assert report["added"] == 1 and report["failed"] == [] and report["chunks"] > 50_000
    assert "read in parts" in run.stderr

    # Bounded: the program holds one part and one batch at a time, not the file, its chunks or their
    # vectors (reading the file whole and embedding it at once held over 1 GB of Python objects). What
    # grows with the store is the pass at the end that checks every chunk has its sentences: it reads the
    # ids of both (13 MB in all at 17k chunks, 78 MB at 73k; the file as text alone would be 100 MB more).
    assert memory["python_peak"] < 112 * 2**20, memory
    # Then the lexical index is built over all 73k chunks, so that the first search needs no wait: it holds
    # their texts, metadata and tokens (each distinct word and value once) and jieba's dictionary (53 MB), in
    # proportion to the store, not to the file read (248 MB for 17k chunks; 1.4 GB at 73k before the words
    # and values were held once).
    assert memory["prepare_peak"] < 1200 * 2**20, memory
    # The process as a whole: the model (~1.6 GB at load), Chroma's own index of 73k chunks, and the tracing
    # (measured 2.7-3.5 GB between runs; the Python bound above is the one that tells streaming from not).
    assert memory["max_rss_kb"] < 4 * 2**20, memory

    listed = json.loads(xunshi(home, models, "docs", "list", "--json").stdout)
    assert [(d["title"], d["chunks"]) for d in listed["documents"]] == [("2023年巡视巡察工作资料汇集", report["chunks"])]
    # The last part is stored like the first: its own section, its place far into the text.
    client = build_chroma_client(Settings(home=home))
    last = client.get_collection("xunshi_chunks").get(where_document={"$contains": "一百三十七项"},
                                                      include=["documents", "metadatas"])
    assert len(last["ids"]) == 1
    assert last["metadatas"][0]["section"] == "四、结尾" and last["metadatas"][0]["start"] > 15_000_000
    assert last["metadatas"][0]["order"] == report["chunks"] - 1

    again = xunshi(home, models, "ingest", str(big), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 1
