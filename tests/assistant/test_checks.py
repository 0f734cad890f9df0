"""Faithfulness checks of an LLM answer against its numbered sources."""

from __future__ import annotations

import pytest

from assistant.checks import check_answer

SOURCES = [
    "2021年，省委巡视组开展第x轮巡视，共发现问题xxxx个，移交问题线索12件，整改率达到95%。",
    "各巡视组坚持“推磨式”交叉巡察，严格执行《中国共产党巡视工作条例》，对三个县开展了两次回头看。",
    "20xx年x月，巡视组进驻xx县，反馈意见x.xx万字。",
]


def test_faithful_answer_passes():
    answer = (
        "2021年，省委巡视组开展巡视，移交问题线索12件，整改率达到95%[1]。\n"
        "各巡视组坚持“推磨式”交叉巡察，严格执行《中国共产党巡视工作条例》[2]，对三个县开展了两次回头看[2]。"
    )
    assert check_answer(answer, SOURCES) == []


def test_full_width_digits_in_a_source_support_the_answer():
    assert check_answer("移交问题线索12件[1]。", ["移交问题线索１２件。"]) == []


def test_invented_number_is_caught():
    [problem] = check_answer("移交问题线索37件[1]。", SOURCES)
    assert "the number 37 is not in the cited passages" in problem
    assert "移交问题线索37件" in problem  # names the sentence


def test_invented_chinese_quantity_is_caught():
    [problem] = check_answer("对五个县开展了两次回头看[2]。", SOURCES)
    assert "五个" in problem


def test_chinese_quantity_written_in_digits_in_the_source_passes():
    assert check_answer("移交问题线索十二件[1]。", SOURCES) == []


def test_citation_beyond_the_sources_is_caught():
    problems = check_answer("整改率达到95%[9]。", SOURCES)
    assert problems == ['cites [9] but there are 3 sources (sentence 1 "整改率达到95%。")']


def test_answer_without_any_citation_is_caught():
    problems = check_answer("移交问题线索12件。", SOURCES)
    assert problems and "cites no source" in problems[0]


def test_empty_answer_has_no_problems():
    assert check_answer("", SOURCES) == []


@pytest.mark.parametrize("answer, filled, redacted", [
    ("本轮巡视共发现问题1234个[1]。", "发现问题1234个", "发现问题xxxx个"),
    ("省委巡视组开展第三轮巡视[1]。", "第三轮", "第x轮"),
    ("巡视组反馈意见1.25万字[3]。", "意见1.25万", "意见x.xx万"),
    ("2019年3月，巡视组进驻某县[3]。", "年3月", "年x月"),
])
def test_filled_in_redaction_is_caught(answer, filled, redacted):
    problems = [p for p in check_answer(answer, SOURCES) if p.startswith("filled in a redacted number: ")]
    assert len(problems) == 1, problems
    shown, source = problems[0].removeprefix("filled in a redacted number: ").split(" (the source has ")
    assert filled in shown and redacted in source


def test_filled_in_redaction_is_caught_even_when_the_number_occurs_elsewhere():
    # 12 is in source 1 (移交问题线索12件), so only the redaction rule sees this.
    [problem] = check_answer("共发现问题12个[1]。", SOURCES)
    assert problem.startswith("filled in a redacted number: 发现问题12个 (the source has 发现问题xxxx个)")


def test_redaction_kept_as_written_passes():
    assert check_answer("省委巡视组开展第x轮巡视，共发现问题xxxx个[1]。", SOURCES) == []


def test_the_same_phrase_unredacted_in_another_cited_source_passes():
    sources = ["第x轮巡视发现问题xx个。", "第三轮巡视发现问题58个。"]
    assert check_answer("第三轮巡视发现问题58个[1][2]。", sources) == []


def test_quoted_term_not_in_the_sources_is_caught():
    [problem] = check_answer("各巡视组坚持“一线工作法”[2]。", SOURCES)
    assert "“一线工作法”" in problem and "not in the cited passages" in problem


def test_title_not_in_the_sources_is_caught():
    [problem] = check_answer("严格执行《巡视工作办法》[2]。", SOURCES)
    assert problem.startswith("《巡视工作办法》 is not in the cited passages")


def test_list_markers_are_not_facts():
    answer = (
        "一是坚持“推磨式”交叉巡察[2]；二是严格执行《中国共产党巡视工作条例》[2]。\n"
        "第一，移交问题线索12件[1]。\n"
        "1. 整改率达到95%[1]\n"
        "（2）对三个县开展了两次回头看[2]"
    )
    assert check_answer(answer, SOURCES) == []


def test_number_in_the_cited_source_passes_though_another_source_lacks_it():
    assert check_answer("整改率达到95%[1]。对三个县开展了两次回头看[2]。", SOURCES) == []


def test_number_checked_against_the_cited_source_only():
    [problem] = check_answer("整改率达到95%[2]。", SOURCES)
    assert "95%" in problem


def test_sentence_without_citation_inherits_the_previous_one():
    assert check_answer("移交问题线索12件[1]。整改率达到95%。", SOURCES) == []
    [problem] = check_answer("对三个县开展了回头看[2]。移交问题线索12件。", SOURCES)
    assert "the number 12" in problem and "sentence 2" in problem


def test_citation_after_the_full_stop_belongs_to_the_sentence_before():
    assert check_answer("对三个县开展了两次回头看。[2] 移交问题线索12件。[1]", SOURCES) == []
