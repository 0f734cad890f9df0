"""Dates of documents read off real texts: one test per kind of evidence, then the whole set of excerpts."""

from pathlib import Path

from ingest.dates import Date, date_from_file_name, date_issued, document_date, find_dates
from ingest.loaders import load_file
from ingest.pipeline import documents_from_loaded, load_documents
from ingest.stream import scan_large_text

DATES = Path(__file__).parents[1] / "data" / "dates"
PUBLIC = Path(__file__).parents[1] / "data" / "public"


def doc_of(name: str, file_name: str | None = None):
    """The one document of a file under ``data/dates``, read as if the file were called ``file_name``."""
    path = DATES / name
    [doc] = documents_from_loaded(load_file(path), str(path), "h", file_name or path.stem)
    return doc


def dated(doc) -> tuple:
    return doc.year, doc.date, doc.date_source


def test_a_date_alone_among_the_last_lines_is_the_signature_in_chinese_numerals_too():
    # 审判员… / 二〇〇〇年九月七日 / 书记员… / 编者按…; the body's events (1994年7月至10月) do not count.
    assert dated(doc_of("xtjeyvc_最高法公报案例_成克杰受贿案.txt")) == (2000, "2000-09-07", "signature")


def test_a_signature_line_with_the_signing_bodies_and_the_date():
    doc = doc_of("xtjeyvc_八项规定_关于坚决制止公款出国_境_旅游的通知.txt")
    assert doc.text.endswith("中共中央办公厅 国务院办公厅 2009年2月20日")
    assert dated(doc) == (2009, "2009-02-20", "signature")


def test_a_document_number_at_the_head_gives_the_year():
    doc = doc_of("xtjeyvc_八项规定_关于坚决制止公款出国_境_旅游的通知.txt")
    head = "\n".join(doc.text.split("\n")[:3])  # 中办发〔2009〕12号 / 各省…： / 2008年3月，《…》…
    assert head.startswith("中办发〔2009〕12号")
    found = document_date(doc.title, head)
    assert (found.year, found.date, found.sources) == (2009, None, "document number")


def test_a_notice_signed_at_the_head_in_chinese_numerals_dates_it():
    # 最高人民法院 / 最高人民检察院 / 二〇一二年十二月二十六日: joined into one line by cleaning.
    doc = doc_of("xtjeyvc_国家法律法规_关于办理行贿刑事案件具体应用法律若干问题的解释__2012.txt")
    assert "最高人民法院最高人民检察院二〇一二年十二月二十六日" in doc.text.split("\n")
    assert dated(doc) == (2012, "2012-12-26", "title, issued")


def test_a_publication_stamp_dates_the_page_though_cleaning_drops_it():
    doc = doc_of("xtjeyvc_业务探讨_“明官暗商”案件中违纪与犯罪问题辨析.txt")
    assert "发布时间" not in doc.text  # web page furniture, not text to cite
    assert dated(doc) == (2021, "2021-09-02", "issued")


def test_a_dateline_under_the_byline():
    doc = doc_of("sxyz_党风廉政_十八大以来党风廉政建设新思想新观点新举措_吴桂韩.txt")
    assert dated(doc) == (2017, "2017-08-22", "issued")  # 2017年08月22日09:55    来源：人民网-理论频道


def test_an_issue_line_of_a_headnote_and_not_a_cited_document_issued_earlier():
    doc = doc_of("xtjeyvc_党内法律法规_中国共产党处分违纪党员批准权限和程序规定.txt")
    assert dated(doc) == (2022, "2022-09-22", "headnote")
    paragraphs = doc.text.split("\n")
    assert "2022年9月22日中共中央发布）" in paragraphs
    assert date_issued(paragraphs) == Date(2022, 9, 22)
    # The last article cites "中央纪委1983年7月6日印发的《…》": no date of this document.
    tail = "\n".join(paragraphs[-3:])
    assert "1983年7月6日印发" in tail and document_date(doc.title, tail).year is None


def test_a_revised_law_takes_its_latest_revision_not_its_adoption_nor_its_entry_into_force():
    # （2005年…通过　根据2017年9月1日…的决定修正　2018年12月29日…修订）… 本法自2019年6月1日起施行。
    doc = doc_of("xtjeyvc_国家法律法规_中华人民共和国公务员法.txt")
    assert dated(doc) == (2018, "2018-12-29", "headnote")


def test_a_regulation_amended_in_2017_is_of_2017():
    # (2017年12月修改) in the 题注; 本办法自2016年1月23日起施行 at the end.
    assert dated(doc_of("xtjeyvc_法规_中共山东省委贯彻巡视工作条例实施办法.txt")) == (2017, "2017-12", "headnote")
    # The 2017 revision of the inspection regulations states no revision date: its file name does.
    doc = doc_of("xtjeyvc_法规_中国共产党巡视工作条例_2017修订文本.txt")
    assert "本条例自2015年8月3日起施行" in doc.text
    assert dated(doc) == (2017, None, "file name")


def test_a_dated_file_name_and_a_body_that_opens_on_an_event():
    name = "sxyz_中纪委_违反中央八项规定精神典型问题通报_2025.txt"
    assert dated(doc_of(name)) == (2025, None, "file name")
    doc = doc_of(name, file_name="典型问题通报")
    assert "2025年4月5日，湖北省黄冈市黄梅县有关党员干部违规聚餐饮酒" in doc.text
    assert dated(doc) == (None, None, None)


def test_years_in_file_names_start_a_part_of_the_name():
    assert date_from_file_name("xtjeyvc_法规_中国共产党巡视工作条例_2015年文本") == Date(2015)
    assert date_from_file_name("llmcookbook_北京市_2024年政府工作报告_pdf抽取") == Date(2024)
    # A year inside a word or a phrase names something else: the corpus's own name, the work planned.
    assert date_from_file_name("sxyz_中纪委_中央政治局会议研究部署2023年党风廉政建设和反腐败工作") is None
    assert date_from_file_name("govreports2026_上海市") is None


def test_the_title_date_wins_over_the_publication_stamp():
    # 2026年上海市政府工作报告 / ——2026年2月3日在…会议上 / 来源：解放日报 / 时间：2026-02-09
    doc = doc_of("govreports2026_上海市_2026年政府工作报告.txt")
    assert dated(doc) == (2026, "2026-02-03", "title")


def test_dates_of_quotations_are_not_the_date_of_the_document():
    doc = doc_of("xtjeyvc_巡视_习近平总书记谈巡视巡察.txt")
    assert "——2016年1月12日，习近平在第十八届中央纪律检查委员会第六次全体会议上的讲话" in doc.text
    assert dated(doc) == (None, None, None)


def test_written_dates_of_every_form():
    text = "二〇〇〇年九月七日 2026-02-09 2019.1.1起 (2017年12月修改) 20xx年x月 2023年2月30日"
    assert [d for _, _, d in find_dates(text)] == [
        Date(2000, 9, 7), Date(2026, 2, 9), Date(2019, 1, 1), Date(2017, 12), Date(2023, 2),
    ]


def test_a_large_file_read_in_parts_is_dated_by_its_last_part(tmp_path):
    path = tmp_path / "成克杰受贿案.txt"
    path.write_bytes((DATES / "xtjeyvc_最高法公报案例_成克杰受贿案.txt").read_bytes())
    doc, _ = scan_large_text(path, "h", 300, part_chars=400)
    assert (doc.year, doc.date) == (2000, "2000-09-07")


# Every excerpt as ingest reads it: (year, date), the date ISO where the text gives month or day.
EXPECTED = {
    "govreports2026_上海市_2026年政府工作报告.txt": (2026, "2026-02-03"),
    "sxyz_中纪委_二十届中央纪委三次全会公报_2024.txt": (2024, "2024-01-10"),
    "sxyz_中纪委_违反中央八项规定精神典型问题通报_2025.txt": (2025, None),
    "sxyz_党风廉政_十八大以来党风廉政建设新思想新观点新举措_吴桂韩.txt": (2017, "2017-08-22"),
    "xtjeyvc_业务探讨_“明官暗商”案件中违纪与犯罪问题辨析.txt": (2021, "2021-09-02"),
    "xtjeyvc_党内法律法规_中国共产党处分违纪党员批准权限和程序规定.txt": (2022, "2022-09-22"),
    "xtjeyvc_八项规定_关于坚决制止公款出国_境_旅游的通知.txt": (2009, "2009-02-20"),
    "xtjeyvc_国家法律法规_中华人民共和国公务员法.txt": (2018, "2018-12-29"),
    "xtjeyvc_国家法律法规_关于办理行贿刑事案件具体应用法律若干问题的解释__2012.txt": (2012, "2012-12-26"),
    "xtjeyvc_巡视_习近平总书记谈巡视巡察.txt": (None, None),
    "xtjeyvc_最高法公报案例_成克杰受贿案.txt": (2000, "2000-09-07"),
    "xtjeyvc_法规_中共山东省委贯彻巡视工作条例实施办法.txt": (2017, "2017-12"),
    "xtjeyvc_法规_中国共产党巡视工作条例_2017修订文本.txt": (2017, None),
    "xtjeyvc_巡视_个别谈话的策略与技巧.txt": (None, None),
    "xtjeyvc_法规_中国共产党问责条例_2016.txt": (2016, "2016-07-08"),
}


def test_every_excerpt_gets_the_date_it_states_and_no_other():
    found = {}
    for path in sorted([*DATES.glob("*.txt"), *PUBLIC.glob("*.txt")]):
        [doc] = load_documents(path)
        found[path.name] = (doc.year, doc.date)
        if doc.date:  # year and date never disagree
            assert doc.date.startswith(f"{doc.year}-")
    assert found == EXPECTED
    assert sum(year is not None for year, _ in found.values()) == 13

