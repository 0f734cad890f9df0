"""Cleaning, compilation splitting, headings and chunking on the bundled sample and on small texts."""

from pathlib import Path

import pytest

from ingest.chunking import chunk_document, embedding_text, pack_sentences, split_sentences
from ingest.clean import build_paragraphs, drop_junk, extract_toc
from ingest.compilation import split_compilation
from ingest.metadata import detect_level, year_from_title
from ingest.loaders import load_file
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
    paragraphs = build_paragraphs(lines_of("本行写到一半，没有结束\n在这里结束。\n——新的一项\n——第二项。\n\n空行之后。"))
    assert [p.text for p in paragraphs] == ["本行写到一半，没有结束在这里结束。", "——新的一项", "——第二项。", "空行之后。"]
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


# --- Conventions seen in the public corpus (govreports, 党内法规, 中纪委 reposts, a PDF) ---

PUBLIC = Path(__file__).parents[1] / "data" / "public"
JUBAO_PDF = Path(__file__).parents[1] / "data" / "jubao_templates.pdf"


def docs_of(text: str, stem: str = "文件名") -> list:
    return documents_from_loaded(LoadedFile(lines_of(text), "txt"), f"/{stem}.txt", "h", stem)


def test_title_byline_and_salutation_are_not_glued_to_the_body():
    # A government work report as reposted by a newspaper site: none of its opening lines ends in
    # punctuation, and none of them is half a sentence.
    docs = docs_of("\n".join([
        "2026年上海市政府工作报告",
        "——2026年2月3日在上海市第十六届人民代表大会第四次会议上",
        "来源：解放日报",
        "时间：2026-02-09",
        "上海市市长 龚 正",
        "各位代表：",
        "现在，我代表上海市人民政府，向大会报告工作，请予审议。",
    ]))
    assert docs[0].title == "2026年上海市政府工作报告——2026年2月3日在上海市第十六届人民代表大会第四次会议上"
    assert [p.text for p in docs[0].paragraphs] == [
        "上海市市长 龚 正", "各位代表：", "现在，我代表上海市人民政府，向大会报告工作，请予审议。",
    ]


def test_line_broken_inside_a_sentence_is_still_joined():
    paragraphs = build_paragraphs(lines_of(
        "——组成x个指导督导组，采用“一托二”方式，对盟市巡察工作开展现场\n指导督导，促进巡察工作规范开展。\n"
        "我是××旅行社导游武××（曾负责××部代表团西班牙旅游接\n待），现举报崔××公款出国旅游问题：\n"
        "实现了巡视巡察“x+x＞x”的监督效果。出台\n《xx市交叉巡察实施办法（试行）》，实现xx个区县全覆盖。"
    ))
    assert [p.text for p in paragraphs] == [
        "——组成x个指导督导组，采用“一托二”方式，对盟市巡察工作开展现场指导督导，促进巡察工作规范开展。",
        "我是××旅行社导游武××（曾负责××部代表团西班牙旅游接待），现举报崔××公款出国旅游问题：",
        "实现了巡视巡察“x+x＞x”的监督效果。出台《xx市交叉巡察实施办法（试行）》，实现xx个区县全覆盖。",
    ]


def test_pdf_lines_join_by_wrap_width_and_a_short_line_ends_its_paragraph():
    loaded = load_file(JUBAO_PDF)
    docs = documents_from_loaded(loaded, str(JUBAO_PDF), "h", JUBAO_PDF.stem)
    texts = [p.text for p in docs[0].paragraphs]
    # The letter's title and its addressee stay two lines (the bug: "…的举报中央纪委：").
    assert "关于张××受贿问题的举报" in texts and "中央纪委：" in texts
    assert "举报人：孙×" in texts and "身份证号：1*****2117" in texts
    # A numbered line that fills the page width is the first line of its paragraph, not a heading.
    assert any(t.startswith("2.××市副市长赵×在任市交通运输局局长期间，借汇报工作之机，先后于2014 年×月和×月") for t in texts)
    assert "4.举报人信息：如选择署名举报，应写明姓名、单位、联系方式等内容。" in texts


def test_series_of_parts_are_outermost_sections_and_not_the_title():
    loaded = load_file(JUBAO_PDF)
    doc = documents_from_loaded(loaded, str(JUBAO_PDF), "h", "jubao")[0]
    # "举报材料模板一" names the first of three parts, not the file.
    assert doc.title == "jubao"
    sections = [c.section for c in chunk_document(doc)]
    assert "举报材料模板一 › 一、受贿" in sections
    second = [s for s in sections if s.startswith("举报材料模板二")]
    assert second and not any("违规借用豪华汽车" in s for s in second)


def test_web_page_furniture_is_dropped():
    lines = lines_of(
        "2017年08月22日09:55    来源：人民网-理论频道\n（来源：人民日报）\n责任编辑：王xx\n时间：2026-02-09\n"
        "殷勇同志作政府工作报告。本报记者 戴冰摄\n问题线索来源：群众举报。\n时间：2021年3月5日上午\n"
        "来源：《理论学习》2017年第8期"
    )
    assert [line.text for line in drop_junk(lines)] == ["问题线索来源：群众举报。", "时间：2021年3月5日上午"]


def test_markdown_table_rows_stay_rows():
    paragraphs = build_paragraphs(lines_of("| 文件 | 说明 |\n|---|---|\n| a.txt | 业务文章，原发表处未注明 |"))
    assert len(paragraphs) == 3


def test_titles_follow_the_conventions_of_official_documents():
    def title(text: str) -> str:
        return split_compilation(lines_of(text), "文件名")[0].title

    assert title("如何提升巡察谈话的效果？\n\n巡察谈话是巡察工作的重要环节。") == "如何提升巡察谈话的效果？"
    assert title("各位代表：\n现在，我代表市人民政府向大会报告工作。") == "文件名"
    assert title("【认真学习宣传贯彻党的二十大精神】\n坚定不移全面从严治党\n赵乐际\n正文。") == "坚定不移全面从严治党"
    assert title("以纪律为尺 凸显利剑作用\n——巡视工作如何做深做细做实的思考\n正文。") == (
        "以纪律为尺 凸显利剑作用——巡视工作如何做深做细做实的思考"
    )
    assert title("习近平在十九届中央纪委六次全会上发表重要讲话强调\n坚持严的主基调不动摇\n新华社电　正文。") == (
        "习近平在十九届中央纪委六次全会上发表重要讲话强调 坚持严的主基调不动摇"
    )
    assert title("第一章　总则\n第一条　为落实全面从严治党要求，制定本条例。") == "文件名"


def test_regulation_articles_and_their_items_are_not_headings():
    doc = documents_from_loaded(
        load_file(PUBLIC / "xtjeyvc_法规_中国共产党问责条例_2016.txt"), "/r.txt", "h", "r"
    )[0]
    chunks = chunk_document(doc)
    assert {c.section for c in chunks} == {""}
    item = next(c for c in chunks if "（一）检查。" in c.text)
    assert item.text.startswith("第七条 对党组织的问责方式包括：\n（一）检查。")
    assert doc.year == 2016  # "本条例自2016年7月8日起施行。"


def test_chapters_and_parts_of_a_regulation_make_the_path():
    doc = docs_of("\n".join([
        "中国共产党纪律处分条例",
        "（2003年12月31日中共中央发布 2023年12月8日中共中央政治局会议第三次修订 2023年12月19日中共中央发布）",
        "第一编 总则",
        "第一章　总　则",
        "第一条 为了维护党章和其他党内法规，制定本条例。",
        "第四条 党的纪律处分工作遵循下列原则：",
        "（一）坚持党要管党、全面从严治党。",
        "（二）党纪面前一律平等。",
    ]))[0]
    assert doc.year == 2023
    sections = {c.section for c in chunk_document(doc)}
    assert "第一编 总则 › 第一章 总则" in sections
    assert not any("（一）" in s for s in sections)


def test_unnumbered_subheadings_of_an_article_name_sections():
    doc = documents_from_loaded(
        load_file(PUBLIC / "xtjeyvc_巡视_个别谈话的策略与技巧.txt"), "/t.txt", "h", "t"
    )[0]
    assert doc.title == "巡视个别谈话的策略与技巧"
    chunks = chunk_document(doc)
    assert [s for s in dict.fromkeys(c.section for c in chunks) if s] == [
        "做好谈话准备", "讲究谈话策略", "注重谈话技巧", "把握谈话要求",
    ]
    # The subheading stays in the text of its chunk; 一是… is never a heading.
    first = next(c for c in chunks if c.section == "讲究谈话策略")
    assert first.text.startswith("讲究谈话策略。\n个别谈话是思想政治工作")
    assert any("二是由小及大逐步深入" in c.text for c in chunks if c.section == "讲究谈话策略")


def test_a_single_short_line_or_a_byline_is_not_a_subheading():
    doc = docs_of("\n".join([
        "坚定不移全面从严治党",
        "赵乐际",
        "习近平总书记所作的党的二十大报告，宣示了新时代新征程中国共产党的使命任务。",
        "巡视是党内监督的战略性制度安排，要坚持发现问题、形成震慑不动摇。",
        "问题是巡视的生命线",
        "巡视组要把发现问题作为生命线，聚焦“关键少数”，深入查找政治偏差。",
    ]))[0]
    assert {c.section for c in chunk_document(doc)} == {""}


def test_heading_labels_lose_typesetting_spaces():
    assert parse_heading("第一章　总　则").text == "第一章 总则"
    assert parse_heading("第八章　审  理").text == "第八章 审理"
    assert parse_heading("第一章总则").text == "第一章总则"
    assert parse_heading("第一编 总则").level == 0


def test_year_from_headnote_bare_year_and_title():
    assert year_from_title("中国共产党纪律处分条例 2023") == 2023
    assert year_from_title("关于20xx年巡察工作的报告") is None
    assert docs_of("中央巡视组工作规则（试行）\n（中纪发〔2010〕13号 2010年4月1日）\n第一章 总 则")[0].year == 2010
    assert docs_of("规定\n（2020年2月26日审议批准\n\n2020年3月9日中共中央办公厅发布）\n正文。")[0].year == 2020
    # A year in the body is what the text talks about, not the year of the document.
    assert docs_of("市委巡察工作综述\n2019年以来，市委共开展巡察x轮。")[0].year is None


def test_levels_of_municipalities_and_of_central_rules():
    assert detect_level("2026年北京市政府工作报告", "") == "省"
    assert detect_level("文件名", "现在，我代表上海市人民政府，向大会报告工作。") == "省"
    assert detect_level("北京市朝阳区委巡察工作综述", "") == "县"
    # "省、自治区、直辖市委员会" names every province-level unit: no level, and 直辖市委 is not 市委.
    assert detect_level("中国共产党巡视工作条例", "党的中央和省、自治区、直辖市委员会实行巡视制度。") is None
    # Committees named in examples further on do not make the level: only the lead paragraph does.
    body = "今年，一批督导组、巡视组陆续赴地方工作成为一大亮点。\n中央督导组来到广东，从省直机关到全省各地进行督导。"
    assert detect_level("巡视组与督导组的区别", body) is None


def test_short_introduction_goes_with_the_first_subsection():
    doc = docs_of("\n".join([
        "工作报告",
        "一、2025年工作回顾",
        "过去一年，我们主要做了以下工作。",
        "（一）全力促进经济平稳健康发展",
        "全年地区生产总值增长x%，新增就业xx万人。" * 4,
        "（二）持续加强政府自身建设",
        "坚持依法行政。" * 8,
        "这是一句收尾的话。",
    ]))[0]
    chunks = chunk_document(doc)
    assert all(len(c.text) >= 40 for c in chunks)
    first = chunks[0]
    assert first.text.startswith("过去一年，我们主要做了以下工作。\n（一）全力促进经济平稳健康发展\n全年")
    assert first.section == "一、2025年工作回顾 › （一）全力促进经济平稳健康发展"
    assert chunks[-1].text.endswith("坚持依法行政。\n这是一句收尾的话。")
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]


def test_long_paragraph_leaves_no_tiny_piece_and_repeats_no_long_sentence():
    long_sentence = "要" + "坚持问题导向，聚焦重点领域和关键环节，" * 20 + "推动巡察工作高质量发展。"
    text = "今年是开局之年。" + long_sentence + "最后一句很短。"
    pieces = [text[s:e] for s, e in pack_sentences(text, 300)]
    assert pieces[0].startswith("今年是开局之年。要坚持")
    assert all(len(p) >= 60 for p in pieces)
    assert sum(p.count("推动巡察工作高质量发展。") for p in pieces) == 1


def test_question_headings_and_interview_questions_name_sections():
    doc = docs_of("\n".join([
        "如何探索问题底稿在巡察工作中的应用？",
        "巡察工作质量的高低取决于巡察报告的水平。",
        "一、如何探索巡察报告问题底稿在巡察工作中的应用？",
        "（一）巡察报告问题底稿主要内涵",
        "问题底稿是巡察报告的支撑材料。",
    ]))[0]
    assert doc.title == "如何探索问题底稿在巡察工作中的应用？"
    sections = {c.section for c in chunk_document(doc)}
    assert "一、如何探索巡察报告问题底稿在巡察工作中的应用？ › （一）巡察报告问题底稿主要内涵" in sections

    interview = docs_of("\n".join([
        "中央巡视办负责人答记者问",
        "近日，中共中央办公厅印发了《意见》。",
        "问：请您谈谈起草《意见》的总体考虑。",
        "答：制定《意见》突出政治性、实践性、指导性。",
        "问：《意见》在实施保障方面有何具体要求？",
        "答：《意见》主要从3个方面提出要求。",
    ]))[0]
    chunks = chunk_document(interview)
    answer = next(c for c in chunks if "3个方面" in c.text)
    assert answer.section == "《意见》在实施保障方面有何具体要求"
    assert answer.text.startswith("问：《意见》在实施保障方面有何具体要求？\n答：")


def test_a_date_alone_is_not_a_title():
    assert split_compilation(lines_of("2018年×月×日\n\n注意事项：如实填写。"), "文件名")[0].title == "文件名"


def test_unpunctuated_line_in_running_text_continues():
    """DOMAIN.md's rule in running text: `出台` / `《…》…` is one sentence, and so is `开展现场` / `指导督导，…`."""
    text = "一、主要做法\n市委高度重视巡察工作。\n出台\n《xx市交叉巡察实施办法（试行）》，实现全覆盖。\n对盟市巡察工作开展现场\n指导督导，促进规范开展。"
    paragraphs = [p.text for p in build_paragraphs(lines_of(text))]
    assert "出台《xx市交叉巡察实施办法（试行）》，实现全覆盖。" in paragraphs
    assert "对盟市巡察工作开展现场指导督导，促进规范开展。" in paragraphs


def test_a_large_file_read_in_parts_chunks_like_the_whole(tmp_path):
    from ingest.stream import iter_large_text_chunks, scan_large_text

    article = SAMPLE.read_text(encoding="utf-8").split("##paidbegin##")[1]
    body = article[article.index("2021年，自治区党委") : article.index("2021年巡视巡察工作综述\n", 200)]
    path = tmp_path / "汇集.txt"
    path.write_text("2023年巡视巡察工作资料汇集\n\n" + body * 12, encoding="utf-8")
    whole = documents_from_loaded(load_file(path), str(path), "h", path.stem)[0]
    expected = chunk_document(whole)

    doc, count = scan_large_text(path, "h", 300, part_chars=3000)
    chunks = list(iter_large_text_chunks(path, doc, 300, part_chars=3000))
    assert (doc.title, doc.year, doc.content_hash) == (whole.title, whole.year, whole.content_hash)
    assert count == len(chunks) == len(expected)
    assert [(c.order, c.text, c.section, c.start, c.end) for c in chunks] == \
        [(c.order, c.text, c.section, c.start, c.end) for c in expected]
