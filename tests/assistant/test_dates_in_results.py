"""A document's date goes from ingest to the store, the document list, search results and precedents,
which list the newest first: real excerpts, a real Chroma on a temp dir, the real default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.precedents import as_dicts, find_precedents
from assistant.services import build_retriever
from conftest import ingest_examples

DATES = Path(__file__).parents[1] / "data" / "dates"
SHANDONG = "中共山东省委贯彻《中国共产党巡视工作条例》实施办法"  # (2017年12月修改)
REVISION_2017 = "xtjeyvc_法规_中国共产党巡视工作条例_2017修订文本"  # no title line; 2017 by its file name


@pytest.fixture(scope="module")
def kb(tmp_path_factory, e5_embeddings):
    settings, store, _, _ = ingest_examples(tmp_path_factory.mktemp("dates"), e5_embeddings, DATES)
    return settings, store, build_retriever(settings, store, e5_embeddings)


def test_the_document_list_shows_year_and_date(kb):
    _, store, _ = kb
    listed = {d.title: d.as_dict() for d in store.documents()}
    assert (listed["中华人民共和国公务员法"]["year"], listed["中华人民共和国公务员法"]["date"]) == (2018, "2018-12-29")
    assert (listed[SHANDONG]["year"], listed[SHANDONG]["date"]) == (2017, "2017-12")
    assert (listed[REVISION_2017]["year"], listed[REVISION_2017]["date"]) == (2017, None)
    assert (listed["习近平总书记谈巡视巡察"]["year"], listed["习近平总书记谈巡视巡察"]["date"]) == (None, None)


def test_search_results_carry_the_date(kb):
    _, _, retriever = kb
    hit = retriever.search("公务员的义务、权利和管理", k=3)[0]
    assert (hit.title, hit.year, hit.date) == ("中华人民共和国公务员法", 2018, "2018-12-29")
    assert hit.as_dict()["date"] == "2018-12-29"


def test_precedents_list_the_newest_first_by_date_within_a_year(kb):
    settings, _, retriever = kb
    # 《中国共产党巡视工作条例》: the Shandong rules (2017-12) and the 2017 revision (2017, no day known).
    matched, groups = find_precedents(retriever, "《中国共产党巡视工作条例》", settings.relevance_threshold)
    assert matched == "term"
    titles = [g.title for g in groups]
    assert titles.index(SHANDONG) < titles.index(REVISION_2017)
    order = [(g.year or 0, g.date or "") for g in groups]
    assert order == sorted(order, reverse=True)
    assert as_dicts(groups)[titles.index(SHANDONG)]["date"] == "2017-12"
