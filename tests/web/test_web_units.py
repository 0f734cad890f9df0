"""The page's pure parts: escaping, auth, upload names, filters from the controls."""

from __future__ import annotations

import pytest

from assistant.web import (
    make_filters,
    render_answer,
    render_panel,
    safe_upload_name,
    source_choices,
)


def test_document_text_is_escaped_everywhere():
    evil = '<script>alert(1)</script><img src=x onerror="x()">'
    html = render_answer(evil + "[1]", True, [{"n": 1, "title": evil, "section": evil}])
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    refused = render_answer(evil, False, [], note=evil)
    assert "<script>" not in refused and 'class="not-found"' in refused
    panel = render_panel({"n": 1, "title": evil, "section": evil, "text": evil, "source": "/x/a.txt"}, evil, evil, [evil])
    assert "<script>" not in panel and "<img" not in panel and "<mark>" in panel


def test_login_checks_the_users_file_limits_attempts_and_logs_each(tmp_path):
    from fastapi import HTTPException

    from assistant.audit import AuditLog
    from assistant.login import authenticator
    from assistant.login_limiter import LoginLimiter
    from assistant.users import UserStore

    users = UserStore(tmp_path / "users.json")
    users.add("zhang", "correct horse")
    audit = AuditLog(tmp_path / "audit")
    check = authenticator(users, LoginLimiter(attempts=3, wait=60), audit)
    assert check("zhang", "correct horse")
    assert not check("zhang", "wrong one") and not check("wang", "correct horse")
    assert not check("zhang", "wrong two") and not check("zhang", "wrong three")
    with pytest.raises(HTTPException) as refused:  # the right password too, while the wait lasts
        check("zhang", "correct horse")
    assert refused.value.status_code == 429 and "秒后再试" in refused.value.detail
    assert check("wang-never-failed", "x") is False  # another user is not held up by zhang's failures
    actions = [(e["action"], e["user"]) for e in audit.entries()]
    assert actions[:3] == [("login", "zhang"), ("login_failed", "zhang"), ("login_failed", "wang")]
    assert actions.count(("login_failed", "zhang")) == 4


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("报告 (终稿).DOCX", "报告 (终稿).docx"),
    ("a;rm -rf $HOME`x`.pdf", "a_rm -rf _HOME_x.pdf"),
    ("...", "upload"),
])
def test_upload_names_are_sanitised(name, expected):
    assert safe_upload_name(name) == expected


def test_filters_from_the_controls():
    catalogue = {"甲（abc）": "abc", "乙（def）": "def"}
    f = make_filters(["甲（abc）", "unknown"], 2020, 2022, "省", catalogue)
    assert f.doc_ids == ["abc"] and f.level == "省" and (f.year_from, f.year_to) == (2020, 2022)
    assert f.where() == {"$and": [{"doc_id": {"$in": ["abc"]}}, {"level": "省"}, {"year": {"$gte": 2020}},
                                  {"year": {"$lte": 2022}}]}
    assert make_filters([], None, None, "全部", catalogue).where() is None


def test_sources_name_their_page_and_their_spreadsheet_row():
    pdf = {"n": 1, "title": "巡视工作报告", "section": "一、总体情况", "text": "正文。", "source": "/x/扫描件.pdf", "page": 3}
    row = {"n": 2, "title": "xx县巡察反馈问题整改台账", "section": "Sheet1", "text": "问题描述：…", "source": "/x/台账.xlsx",
           "sheet": "Sheet1", "row": 5, "page": None}
    text = {"n": 3, "title": "综述", "section": "", "text": "正文。", "source": "/x/综述.txt", "page": None}
    assert source_choices([pdf, row, text]) == ["[1] 巡视工作报告 › 一、总体情况 第3页",
                                                "[2] xx县巡察反馈问题整改台账 › Sheet1 第5行", "[3] 综述"]
    answer = render_answer("答案[1][2]", True, [pdf, row])
    assert "一、总体情况 第3页" in answer and "Sheet1 第5行" in answer
    assert "扫描件.pdf 第3页" in render_panel(pdf, "", "", [])
    assert "<p>Sheet1 第5行</p>" in render_panel(row, "", "", [])
