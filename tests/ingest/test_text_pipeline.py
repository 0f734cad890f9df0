"""Cleaning, compilation splitting, headings and chunking on the bundled sample and on small texts."""

from pathlib import Path

import pytest

from ingest.chunking import chunk_document, embedding_text, pack_sentences, split_sentences
from ingest.clean import build_paragraphs, drop_junk, extract_toc
from ingest.compilation import split_compilation
from ingest.metadata import detect_level, year_from_title
from ingest.models import Line, LoadedFile
from ingest.pipeline import documents_from_loaded
from ingest.structure import parse_heading

SAMPLE = next((Path(__file__).parents[2] / "examples").glob("*.txt"))


def lines_of(text: str) -> list[Line]:
    return [Line(t) for t in text.split("\n")]


@pytest.fixture(scope="module")
def sample_docs():
    loaded = LoadedFile(lines_of(SAMPLE.read_text(encoding="utf-8")), "txt")
    return documents_from_loaded(loaded, str(SAMPLE), "filehash", SAMPLE.stem)


def test_sample_becomes_exactly_three_articles(sample_docs):
    assert [d.title for d in sample_docs] == [
        "2021年xx党委巡视工作综述",
        "2021年巡视巡察工作综述",
        "市委近五年巡视巡察工作综述",
    ]
    assert [d.year for d in sample_docs] == [2021, 2021, None]
    assert [d.level for d in sample_docs] == ["自治区", "省", "市"]
    assert len({d.doc_id for d in sample_docs}) == 3


def test_sample_is_clean(sample_docs):
    for doc in sample_docs:
        assert "##paid" not in doc.text
        assert "目录" not in doc.text
        assert "\t" not in doc.text
    first = sample_docs[0].text
    # Lines broken inside a sentence are re-joined ...
    assert "对盟市巡察工作开展现场指导督导，通过全过程" in first
    assert "所属旗县（市、区）涉粮单位开展专项巡察。" in first
    assert "《自治区党委巡视机构与自治区统计局协作机制的意见》" in first
    # ... and redacted numbers stay exactly as written.
    assert "发现问题x.xx万个" in first
    assert "对20xx年至20xx年的x轮巡视整改进行集中起底" in first
    assert "整改率达到xx%" in first


def test_stray_word_returns_from_heading_to_paragraph(sample_docs):
    third = sample_docs[2]
    chunks = chunk_document(third)
    linked = [c for c in chunks if c.section.startswith("三、")]
    assert linked[0].section == "三、系统观念：深化上下联动，构建巡视巡察联动监督格局"
    assert linked[0].text.startswith("坚持认真贯彻落实中央《关于加强巡视巡察上下联动的意见》")


def test_chunks_carry_sections_and_exact_spans(sample_docs):
    for doc in sample_docs:
        chunks = chunk_document(doc, size=300)
        assert chunks, doc.title
        for c in chunks:
            assert c.text == doc.text[c.start : c.end]
            assert c.text.strip()
        sections = {c.section for c in chunks}
        assert any(s.startswith("一、") for s in sections)
    cross = [c for c in chunk_document(sample_docs[2]) if "推磨式" in c.text]
    assert cross and cross[0].section.startswith("三、")


def test_every_body_sentence_lands_in_some_chunk(sample_docs):
    for doc in sample_docs:
        chunks = chunk_document(doc, size=120)
        covered = "\n".join(c.text for c in chunks)
        for para in doc.paragraphs:
            heading = parse_heading(para.text, para.heading_level)
            if heading and not heading.run_in:
                continue
            for s, e in split_sentences(para.text):
                assert para.text[s:e] in covered


def test_long_paragraph_splits_at_sentence_ends_with_overlap():
    sentences = [f"第{i}句讲的是巡察工作的第{i}个方面，内容比较长一些。" for i in range(1, 21)]
    text = "".join(sentences)
    pieces = [text[s:e] for s, e in pack_sentences(text, 100)]
    assert len(pieces) > 3
    for piece in pieces:
        assert piece.endswith("。") and piece.startswith("第")
        assert len(piece) <= 100
    for before, after in zip(pieces, pieces[1:]):
        last = split_sentences(before)[-1]
        assert after.startswith(before[last[0] : last[1]])


def test_headings_levels_and_section_paths():
    text = "\n".join([
        "标题在此",
        "第一章 总则",
        "一、总体要求",
        "（一）加强组织领导。省委把巡视作为管党治党的重要抓手，坚持每年听取汇报。",
        "1.明确责任",
        "各级党委承担主体责任。",
        "二、主要做法",
        "开展交叉巡察。",
    ])
    docs = documents_from_loaded(LoadedFile(lines_of(text), "txt"), "/x.txt", "h", "x")
    assert docs[0].title == "标题在此"
    chunks = chunk_document(docs[0])
    by_text = {c.text: c.section for c in chunks}
    assert by_text["各级党委承担主体责任。"] == "第一章 总则 › 一、总体要求 › （一）加强组织领导 › 1.明确责任"
    assert by_text["开展交叉巡察。"] == "第一章 总则 › 二、主要做法"
    run_in = [c for c in chunks if c.text.startswith("（一）加强组织领导。")]
    assert run_in and run_in[0].section.endswith("（一）加强组织领导")


def test_heading_recognition():
    assert parse_heading("十一、加强巡视整改").level == 3
    assert parse_heading("二十、其他").level == 3
    assert parse_heading("（三）深化上下联动").level == 4
    assert parse_heading("第二节 巡视组").level == 2
    assert parse_heading("2.建立台账").level == 5
    assert parse_heading("一是加强领导；二是压实责任。") is None
    assert parse_heading("（市、区）涉粮单位开展专项巡察。") is None
    assert parse_heading("2021年全年组织开展巡视") is None


def test_junk_and_toc_removed():
    lines = lines_of("目录\n1.第一篇\t2\n2.第二篇\t5\n\n##paidbegin##\n- 3 -\n第 4 页 共 10 页\n正文。")
    toc, rest = extract_toc(drop_junk(lines))
    assert toc.titles == ["第一篇", "第二篇"]
    assert [line.text for line in rest if line.text] == ["正文。"]


def test_joining_rules():
    paragraphs = build_paragraphs(lines_of("本行没有结束\n在这里结束。\n——新的一项\n——第二项。\n\n空行之后。"))
    assert [p.text for p in paragraphs] == ["本行没有结束在这里结束。", "——新的一项", "——第二项。", "空行之后。"]
    kept = build_paragraphs([Line("表格 | 一行", joinable=False), Line("下一行", joinable=False)])
    assert len(kept) == 2


def test_single_document_titles():
    articles = split_compilation(lines_of("这是一个很长的段落，没有标题。内容继续。"), "文件名")
    assert articles[0].title == "文件名"
    assert split_compilation(lines_of("巡察整改“五步法”\n\n正文。"), "f")[0].title == "巡察整改“五步法”"


def test_year_and_level():
    assert year_from_title("2021年巡视巡察工作综述") == 2021
    assert year_from_title("20xx年工作综述") is None
    assert detect_level("县委巡察工作总结", "") == "县"
    assert detect_level("工作综述", "2021年，自治区党委巡视工作坚持……") == "自治区"
    assert detect_level("工作综述", "今年以来，围绕中心工作……") is None


def test_embedding_text_format():
    assert embedding_text("标题", "一、做法", "正文。") == "标题 / 一、做法 / 正文。"
    assert embedding_text("标题", "", "正文。") == "标题 / 正文。"
