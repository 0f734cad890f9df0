"""Spreadsheets (.xlsx, .csv): real workbooks made with openpyxl, real CSV bytes in every encoding; rows in,
one passage per row out, each with its sheet and its own row number."""

from __future__ import annotations

import codecs
import io
from datetime import date, datetime
from pathlib import Path

from msoffcrypto.format.ooxml import OOXMLFile
import openpyxl
import pytest

from ingest.chunking import chunk_document
from ingest.errors import LoadError
from ingest.loaders import is_supported, load_file
from ingest.pipeline import documents_from_loaded

TITLE = "XX县巡察反馈问题整改台账"
ROW4 = ("问题描述：村级财务报销手续不规范，白条入账 ｜ 整改措施：清理2022年以来凭证，逐笔补齐手续 ｜ "
        "完成时限：2024年3月31日 ｜ 责任单位：县财政局 ｜ 整改状态：已完成")


def build_ledger(path: Path) -> Path:
    """A ledger as offices keep them: a merged title row, a two-row header (整改情况 over 整改措施 and
    完成时限), a 责任单位 merged over two problems, an empty row, a totals row; a second sheet per unit;
    a third sheet left empty."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet["A1"] = TITLE
    sheet.merge_cells("A1:F1")
    for cell, label in (("A2", "序号"), ("B2", "问题描述"), ("C2", "整改情况"), ("E2", "责任单位"), ("F2", "整改状态")):
        sheet[cell] = label
    for column in "ABEF":
        sheet.merge_cells(f"{column}2:{column}3")
    sheet.merge_cells("C2:D2")
    sheet["C3"], sheet["D3"] = "整改措施", "完成\n时限"
    sheet.append([1, "村级财务报销手续不规范，白条入账", "清理2022年以来凭证，逐笔补齐手续",
                  datetime(2024, 3, 31), "县财政局", "已完成"])
    sheet.append([2, "“三资”底数不清", "开展“三资”清查", date(2024, 6, 30), None, "持续推进"])
    sheet.merge_cells("E4:E5")
    sheet.append([])
    sheet.append([3, "意识形态工作责任制落实不到位", "  修订责任清单\n逐级签订责任书  ", "2024-12-31", "县委宣传部", None])
    sheet.append(["合  计", None, None, None, "3项", None])
    unit = workbook.create_sheet("县教体局")
    unit.append(["序号", "问题类别", "问题描述", "整改措施", "完成时限", "整改率"])
    unit.append([1, "作风建设", "校园食堂采购不规范", "建立集中采购制度", 45473, 0.85])
    unit["F2"].number_format = "0%"
    workbook.create_sheet("空表")
    workbook.save(path)
    return path


def test_xlsx_rows_become_passages_with_sheet_and_row(tmp_path):
    loaded = load_file(build_ledger(tmp_path / "台账.xlsx"))
    assert loaded.format == "xlsx" and loaded.title == TITLE
    assert [(line.sheet, line.row) for line in loaded.lines] == [("Sheet1", 4), ("Sheet1", 5), ("Sheet1", 7),
                                                                 ("县教体局", 2)]
    texts = [line.text for line in loaded.lines]
    assert texts[0] == ROW4
    # The merged 责任单位 fills the second row it spans; the empty 整改状态 is left out.
    assert texts[1] == ("问题描述：“三资”底数不清 ｜ 整改措施：开展“三资”清查 ｜ 完成时限：2024年6月30日 ｜ "
                        "责任单位：县财政局 ｜ 整改状态：持续推进")
    assert texts[2] == ("问题描述：意识形态工作责任制落实不到位 ｜ 整改措施：修订责任清单 逐级签订责任书 ｜ "
                        "完成时限：2024-12-31 ｜ 责任单位：县委宣传部")
    # A serial number in a date column reads as the date; a percentage keeps its sign.
    assert texts[3] == ("问题类别：作风建设 ｜ 问题描述：校园食堂采购不规范 ｜ 整改措施：建立集中采购制度 ｜ "
                        "完成时限：2024年6月30日 ｜ 整改率：85%")
    assert not any("合计" in t or "3项" in t or "序号" in t for t in texts)


def test_each_row_is_one_chunk_citing_its_sheet_and_row(tmp_path):
    path = build_ledger(tmp_path / "台账.xlsx")
    [doc] = documents_from_loaded(load_file(path), str(path), "h", path.stem)
    assert doc.title == TITLE and doc.format == "xlsx"
    chunks = chunk_document(doc, size=300)
    assert [(c.sheet, c.row, c.section) for c in chunks] == [
        ("Sheet1", 4, "Sheet1"), ("Sheet1", 5, "Sheet1"), ("Sheet1", 7, "Sheet1"), ("县教体局", 2, "县教体局")]
    assert chunks[0].text == ROW4 == doc.text[chunks[0].start:chunks[0].end]
    # Short rows are never merged, even far below the chunk size.
    assert all(len(c.text) < 100 for c in chunks)


def test_a_very_long_row_is_split_and_every_piece_keeps_its_row(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["问题描述", "整改措施"])
    sheet.append(["财务管理混乱。" * 5, "；".join(f"第{n}项措施落实到人到岗到位" for n in range(120)) + "。"])
    workbook.save(tmp_path / "长.xlsx")
    [doc] = documents_from_loaded(load_file(tmp_path / "长.xlsx"), "/长.xlsx", "h", "长")
    assert doc.title == "长"  # no title row: the file's name
    chunks = chunk_document(doc, size=300)
    assert len(chunks) > 3 and {(c.sheet, c.row) for c in chunks} == {("Sheet", 2)}
    assert all(len(c.text) <= 300 * 4 for c in chunks)


def test_same_name_under_two_groups_keeps_the_group(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"], sheet["B1"], sheet["D1"] = "问题描述", "计划", "实际"
    sheet.merge_cells("A1:A2")
    sheet.merge_cells("B1:C1")
    sheet.merge_cells("D1:E1")
    sheet["B2"], sheet["C2"], sheet["D2"], sheet["E2"] = "整改措施", "完成时限", "整改措施", "完成时限"
    sheet.append(["台账不全", "补建台账", "2024年1月", "已补建", "2024年2月"])
    workbook.save(tmp_path / "计划与实际.xlsx")
    [line] = load_file(tmp_path / "计划与实际.xlsx").lines
    assert line.row == 3
    assert line.text == ("问题描述：台账不全 ｜ 计划·整改措施：补建台账 ｜ 计划·完成时限：2024年1月 ｜ "
                         "实际·整改措施：已补建 ｜ 实际·完成时限：2024年2月")


def test_three_row_header_and_a_repeated_header_row(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"] = "问题描述"
    sheet.merge_cells("A1:A3")
    sheet["B1"] = "整改情况"
    sheet.merge_cells("B1:E1")
    sheet["B2"], sheet["D2"] = "计划", "实际"
    sheet.merge_cells("B2:C2")
    sheet.merge_cells("D2:E2")
    sheet["B3"], sheet["C3"], sheet["D3"], sheet["E3"] = "整改措施", "完成时限", "整改措施", "完成时限"
    sheet.append(["台账不全", "补建台账", "2024年1月", "已补建", "2024年2月"])
    sheet.append(["问题描述", "整改情况"])  # the header printed again on the next page
    sheet.append(["问题描述", "整改措施", "完成时限", "整改措施", "完成时限"])
    sheet.append(["档案缺失", "补档", "2024年3月"])
    workbook.save(tmp_path / "三行表头.xlsx")
    lines = load_file(tmp_path / "三行表头.xlsx").lines
    assert [(line.row, line.text) for line in lines] == [
        (4, "问题描述：台账不全 ｜ 计划·整改措施：补建台账 ｜ 计划·完成时限：2024年1月 ｜ 实际·整改措施：已补建 ｜ "
            "实际·完成时限：2024年2月"),
        (7, "问题描述：档案缺失 ｜ 计划·整改措施：补档 ｜ 计划·完成时限：2024年3月"),
    ]


CSV = (
    "附件2：YY市巡察整改台账,,,,\r\n"
    "填报单位：市委巡察办,,,,\r\n"
    "序号,问题描述,整改情况,,责任单位\r\n"
    ",,整改措施,完成时限,\r\n"
    "1,食堂采购未公开招标,\"建立集中采购制度，\n公开招标\",2024-06-30,市教育局\r\n"
    ",,,,\r\n"
    "小计,,,,1项\r\n"
    "2,𠀀字号问题,整改到位,2024-09-30,市住建局\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_with_a_two_row_header(tmp_path, encoding):
    content = CSV if encoding == "gb18030" else CSV.replace("𠀀字号", "台账")
    path = tmp_path / "台账.csv"
    path.write_bytes(content.encode(encoding))
    loaded = load_file(path)
    assert loaded.format == "csv" and loaded.title == "YY市巡察整改台账"
    assert [(line.sheet, line.row) for line in loaded.lines] == [("", 5), ("", 8)]
    assert loaded.lines[0].text == ("问题描述：食堂采购未公开招标 ｜ 整改措施：建立集中采购制度， 公开招标 ｜ "
                                    "完成时限：2024-06-30 ｜ 责任单位：市教育局")
    assert loaded.lines[1].text.startswith("问题描述：" + ("𠀀字号" if encoding == "gb18030" else "台账"))


def test_csv_with_tabs_and_a_plain_header(tmp_path):
    path = tmp_path / "清单.csv"
    path.write_bytes(codecs.BOM_UTF8 + "问题描述\t责任单位\n会议记录不全\t县档案馆\n".encode())
    [line] = load_file(path).lines
    assert (line.row, line.text) == (2, "问题描述：会议记录不全 ｜ 责任单位：县档案馆")


def load_error(path: Path) -> str:
    with pytest.raises(LoadError) as caught:
        load_file(path)
    return str(caught.value)


def test_corrupt_xlsx_is_refused(tmp_path):
    data = build_ledger(tmp_path / "好.xlsx").read_bytes()
    (tmp_path / "截断.xlsx").write_bytes(data[: len(data) // 2])
    assert load_error(tmp_path / "截断.xlsx").startswith("corrupt .xlsx: not a complete zip archive")
    (tmp_path / "文本.xlsx").write_bytes("问题描述,整改措施\n".encode())
    assert load_error(tmp_path / "文本.xlsx").startswith("corrupt .xlsx")
    (tmp_path / "旧格式.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048)  # an OLE file: .xls
    assert load_error(tmp_path / "旧格式.xlsx") == (
        "an old Excel 97-2003 workbook (.xls) named .xlsx: save it as .xlsx in Excel or WPS")


def encrypt_workbook(path: Path, password: str = "secret") -> bytes:
    """The bytes of ``path`` encrypted as Excel does when a password is set (ECMA-376 agile encryption)."""
    encrypted = io.BytesIO()
    with path.open("rb") as f:
        OOXMLFile(f).encrypt(password, encrypted)
    return encrypted.getvalue()


def test_encrypted_xlsx_is_refused(tmp_path):
    (tmp_path / "加密.xlsx").write_bytes(encrypt_workbook(build_ledger(tmp_path / "明文.xlsx")))
    assert load_error(tmp_path / "加密.xlsx") == (
        "encrypted workbook (password-protected): remove the password in Excel or WPS and save it again")


def test_sheets_without_data_rows_say_why(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["序号", "问题描述", "整改措施"])
    workbook.active.append(["合计", None, None])
    workbook.create_sheet("说明").append(["本表由巡察办填报：每季度更新"])
    workbook.create_sheet("空表")
    workbook.save(tmp_path / "只有表头.xlsx")
    assert load_error(tmp_path / "只有表头.xlsx") == (
        "no data rows (sheet 'Sheet': a header but no data rows under it; "
        "sheet '说明': no header row (a row of column names) in its first 20 rows; sheet '空表': empty)")
    (tmp_path / "表头.csv").write_bytes("问题描述,整改措施\r\n".encode("gbk"))
    assert load_error(tmp_path / "表头.csv") == "no data rows (a header but no data rows under it)"


def test_spreadsheets_are_supported_types():
    assert is_supported(Path("台账.XLSX")) and is_supported(Path("清单.csv"))
