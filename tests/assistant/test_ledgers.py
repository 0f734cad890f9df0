"""Ledgers through the whole product, as a user runs it: two rectification ledgers of different counties and
years (an .xlsx made with openpyxl, a GBK .csv) ingested by `xunshi ingest`; `search`, `ask` and `precedents`
cite the sheet and row of each problem, and `precedents` finds how the same problem, worded otherwise, was
rectified in both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).parents[2]

COUNTY = "2023年中共XX县委巡察反馈问题整改台账"
CITY = "2024年YY市委巡察整改台账"
COUNTY_MEASURE = "全面清理2022年以来村级财务凭证，白条逐笔补齐手续，建立村级报销审核制度"
CITY_MEASURE = "聘请第三方审计，规范村级财务报销流程，开展“三资”清查"


def build_county_ledger(path: Path) -> Path:
    """Title row, two-row header, one sheet per inspected unit."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "县农业农村局"
    sheet["A1"] = COUNTY
    sheet.merge_cells("A1:E1")
    sheet["A2"], sheet["B2"], sheet["C2"], sheet["E2"] = "序号", "问题描述", "整改情况", "责任单位"
    for column in "ABE":
        sheet.merge_cells(f"{column}2:{column}3")
    sheet.merge_cells("C2:D2")
    sheet["C3"], sheet["D3"] = "整改措施", "完成时限"
    rows = [
        ("落实巡察反馈意见不及时，整改进度滞后", "建立整改销号台账，每月调度整改进度", datetime(2023, 12, 31)),
        ("村级财务报销手续不规范，存在白条入账现象", COUNTY_MEASURE, datetime(2023, 9, 30)),
        ("意识形态工作责任制落实不到位", "修订意识形态工作责任清单，逐级签订责任书", datetime(2023, 10, 31)),
    ]
    for n, (problem, measure, deadline) in enumerate(rows, 1):
        sheet.append([n, problem, measure, deadline, "县农业农村局"])
    other = workbook.create_sheet("县教体局")
    other.append(["序号", "问题描述", "整改措施", "完成时限", "责任单位"])
    other.append([1, "选人用人程序不规范，干部档案管理混乱", "开展干部人事档案专项审核", datetime(2023, 11, 30), "县教体局"])
    workbook.save(path)
    return path


def build_city_ledger(path: Path) -> Path:
    """A GBK CSV exported from another office's sheet."""
    lines = [
        f"{CITY},,,,",
        "序号,问题描述,整改措施,完成时限,责任单位",
        f"1,村集体“三资”管理混乱，以白条抵账,{CITY_MEASURE},2024-06-30,市农业农村局",
        "2,基层党组织会议记录不全，“三会一课”落实不规范,建立会议记录季度检查制度,2024-05-31,市委组织部",
        "3,学校食堂大宗物资采购未公开招标,建立食堂物资集中采购制度,2024-08-31,市教育局",
    ]
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return path


def xunshi(home: Path, models: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(models)}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def one_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.strip()]
    return json.loads(line)


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory, e5_model_dir):
    root = tmp_path_factory.mktemp("ledgers")
    folder = root / "台账"
    folder.mkdir()
    build_county_ledger(folder / "XX县整改台账.xlsx")
    build_city_ledger(folder / "YY市整改台账.csv")
    home, models = root / "home", e5_model_dir.parent
    report = one_json(xunshi(home, models, "ingest", str(folder), "--json"))
    assert (report["added"], report["failed"], report["chunks"]) == (2, [], 7)  # one chunk per problem
    return home, models


def test_docs_are_titled_dated_and_levelled_by_their_title_rows(ledgers):
    docs = {d["title"]: d for d in one_json(xunshi(*ledgers, "docs", "list", "--json"))["documents"]}
    assert (docs[COUNTY]["year"], docs[COUNTY]["level"], docs[COUNTY]["chunks"]) == (2023, "县", 4)
    assert (docs[CITY]["year"], docs[CITY]["level"], docs[CITY]["chunks"]) == (2024, "市", 3)


def test_search_cites_sheet_and_row(ledgers):
    results = one_json(xunshi(*ledgers, "search", "干部档案管理混乱", "-k", "1", "--json"))["results"]
    assert (results[0]["title"], results[0]["sheet"], results[0]["row"]) == (COUNTY, "县教体局", 2)
    assert results[0]["text"].startswith("问题描述：选人用人程序不规范，干部档案管理混乱 ｜ 整改措施：")
    text = xunshi(*ledgers, "search", "干部档案管理混乱", "-k", "1")
    assert text.returncode == 0, text.stderr
    assert f"{COUNTY} › 县教体局 第2行" in text.stdout
    csv_hit = one_json(xunshi(*ledgers, "search", "食堂物资采购没有招标", "-k", "1", "--json"))["results"][0]
    assert (csv_hit["title"], csv_hit["sheet"], csv_hit["row"]) == (CITY, None, 5)


def test_ask_citations_name_the_row(ledgers):
    answer = one_json(xunshi(*ledgers, "ask", "食堂采购没有公开招标怎么整改的？", "--json"))
    assert answer["found"], answer
    first = answer["citations"][0]
    assert (first["title"], first["row"]) == (CITY, 5)
    text = xunshi(*ledgers, "ask", "食堂采购没有公开招标怎么整改的？")
    assert f"[1] {CITY} › 第5行" in text.stdout


def test_precedents_find_the_same_problem_in_both_ledgers_with_their_measures(ledgers):
    query = "村里用白条报账、财务报销不规范的问题"
    payload = one_json(xunshi(*ledgers, "precedents", query, "--json"))
    groups = {g["title"]: g for g in payload["documents"]}
    assert [g["title"] for g in payload["documents"]][:2] == [CITY, COUNTY]  # newest first
    county = [(c["sheet"], c["row"]) for c in groups[COUNTY]["cases"]]
    city = [(c["sheet"], c["row"]) for c in groups[CITY]["cases"]]
    assert ("县农业农村局", 5) in county and (None, 3) in city
    assert any(f"整改措施：{COUNTY_MEASURE}" in c["text"] for c in groups[COUNTY]["cases"])
    assert any(f"整改措施：{CITY_MEASURE}" in c["text"] for c in groups[CITY]["cases"])
    # In each ledger the white-slip row is the closest case by far; unrelated problems, if listed at all, are
    # below it (e5's cosines crowd together near the threshold, so which of them pass it is not asserted).
    for group, best in ((groups[COUNTY], ("县农业农村局", 5)), (groups[CITY], (None, 3))):
        ranked = sorted(group["cases"], key=lambda c: -c["score"])
        assert (ranked[0]["sheet"], ranked[0]["row"]) == best
        assert all(c["score"] < ranked[0]["score"] - 0.02 for c in ranked[1:])
    text = xunshi(*ledgers, "precedents", query)
    assert text.returncode == 0, text.stderr
    assert "县农业农村局 第5行" in text.stdout and f"整改措施：{COUNTY_MEASURE}" in text.stdout
    assert "  › 第3行" in text.stdout and f"整改措施：{CITY_MEASURE}" in text.stdout
