"""Official documents (红头文件): title under the 文号, issue year and level from the header, the closing block."""

from __future__ import annotations

from ingest.models import Line, LoadedFile
from ingest.official import split_official_header
from ingest.pipeline import documents_from_loaded

NOTICE = """中共xx市委巡察工作领导小组办公室
x巡办发〔2023〕5号
关于深化交叉巡察工作的
通知
各区县党委：
　　为推动巡察工作高质量发展，现就深化交叉巡察工作通知
如下。
一、总体要求
　　坚持“推磨式”交叉巡察，每轮抽调xx名干部组成巡察组，破
解熟人社会监督难题。
中共xx市委巡察工作领导小组办公室
2023年6月15日
（此件公开发布）"""


def loaded(text: str, joinable: bool = True) -> LoadedFile:
    return LoadedFile(lines=[Line(t, page=1, joinable=joinable) for t in text.split("\n")], format="pdf-ocr")


def only_document(text: str):
    [doc] = documents_from_loaded(loaded(text), "/scans/x.pdf", "hash", "扫描件0001")
    return doc


def test_title_is_under_the_document_number_and_may_wrap():
    doc = only_document(NOTICE)
    assert doc.title == "关于深化交叉巡察工作的通知"


def test_header_and_closing_lines_stand_alone_and_the_body_rejoins():
    paragraphs = only_document(NOTICE).text.split("\n")
    assert paragraphs[:3] == ["中共xx市委巡察工作领导小组办公室", "x巡办发〔2023〕5号", "各区县党委："]
    assert "为推动巡察工作高质量发展，现就深化交叉巡察工作通知如下。" in paragraphs
    assert "坚持“推磨式”交叉巡察，每轮抽调xx名干部组成巡察组，破解熟人社会监督难题。" in paragraphs
    assert paragraphs[-3:] == ["中共xx市委巡察工作领导小组办公室", "2023年6月15日", "（此件公开发布）"]


def test_year_and_date_of_issue_and_level_of_the_issuer():
    doc = only_document(NOTICE)
    assert (doc.year, doc.date, doc.level) == (2023, "2023-06-15", "市")  # the 落款, the issuing body
    # A year the title names comes first (ingest.dates): "2022年度" is what people filter this notice by.
    doc = only_document(NOTICE.replace("关于深化交叉巡察工作的", "关于2022年度交叉巡察工作的"))
    assert doc.title == "关于2022年度交叉巡察工作的通知"
    assert doc.year == 2022 and doc.level == "市"


def test_redacted_document_number_year_falls_back_to_the_signing_date():
    doc = only_document(NOTICE.replace("〔2023〕", "〔20xx〕").replace("2023年6月15日", "2024年1月5日"))
    assert doc.title == "关于深化交叉巡察工作的通知"
    assert doc.year == 2024


def test_ocr_variants_of_the_brackets_and_letter_spacing():
    text = NOTICE.replace("x巡办发〔2023〕5号", "x 巡 办 发 [2023] 5 号").replace(
        "中共xx市委巡察工作领导小组办公室\nx", "秘密★1年\n中共xx县委巡察工作领导小组办公室文件\nx", 1)
    doc = only_document(text)
    assert doc.title == "关于深化交叉巡察工作的通知"
    assert doc.year == 2023 and doc.level == "县"
    assert "x巡办发〔2023〕5号" in doc.text.split("\n")  # as printed, so that a search for it finds it
    assert "秘密★1年" not in doc.text


def test_not_an_official_document():
    # A summary whose first line is its title: no 文号 under an issuing body.
    assert split_official_header([Line("2021年巡察工作综述"), Line("一、主要做法")]) is None
    # A 文号 quoted in the body is not a header.
    lines = [Line("2021年巡察工作综述"), Line("根据要求，"), Line("市巡办发〔2020〕3号"), Line("正文")]
    assert split_official_header(lines) is None
    doc = only_document("2021年巡察工作综述\n全年开展两轮巡察，发现问题xx个。")
    assert doc.title == "2021年巡察工作综述" and doc.year == 2021
