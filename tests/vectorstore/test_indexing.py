"""Ingest into a real Chroma on a temp dir with the real default model: exact, incremental, filtered."""

import shutil
import uuid
from pathlib import Path

import pytest

from assistant.services import build_chroma_client, build_indexer, build_retriever, build_store
from assistant.settings import Settings
from ingest.chunking import chunk_document
from ingest.errors import StoreError, UnknownDocumentError
from ingest.pipeline import load_documents
from vectorstore.reindex import reindex
from vectorstore.search import SearchFilters
from store_checks import assert_sentences_in_step

EXAMPLES = Path(__file__).parents[2] / "examples"
SAMPLE_NAME = next(EXAMPLES.glob("*.txt")).name


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(EXAMPLES / SAMPLE_NAME, folder / SAMPLE_NAME)
    (folder / "县委巡察.txt").write_text(
        "2020年县委巡察工作总结\n\n2020年，县委巡察办组织开展两轮常规巡察，巡察xx个村（社区）党组织。\n"
        "一、创新方式方法\n采用“以干代训”方式，从乡镇抽调干部参加巡察，提升了巡察干部能力。\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(params=["embedded", "server"])
def kb(request, tmp_path, e5_embeddings):
    """The store under test: embedded under the home, or in a real `chroma run` server."""
    if request.param == "server":
        url = request.getfixturevalue("chroma_server")
        settings = Settings(home=tmp_path / "home", chroma_url=url, collection=f"t_{uuid.uuid4().hex[:12]}")
    else:
        settings = Settings(home=tmp_path / "home")
    client = build_chroma_client(settings)
    store = build_store(settings, client, e5_embeddings)
    indexer = build_indexer(settings, store, e5_embeddings, show_progress=False)
    retriever = build_retriever(settings, store, e5_embeddings)
    return settings, client, store, indexer, retriever


def expected_chunks(folder: Path) -> dict[str, list[str]]:
    """Chunk texts per title, computed straight from the files with the same pipeline."""
    out = {}
    for path in sorted(folder.iterdir()):
        for doc in load_documents(path):
            out[doc.title] = [c.text for c in chunk_document(doc)]
    return out


def stored_chunks(store) -> dict[str, list[str]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for record in store.iter_records():
        out.setdefault(record["metadata"]["title"], []).append((record["metadata"]["order"], record["text"]))
    return {title: [t for _, t in sorted(items)] for title, items in out.items()}


def test_ingest_is_exact_and_incremental(corpus, kb):
    _, _, store, indexer, _ = kb
    first = indexer.ingest([corpus])
    assert (first.added, first.updated, first.unchanged, first.failed) == (4, 0, 0, [])
    assert stored_chunks(store) == expected_chunks(corpus)
    assert first.chunks == store.count() == sum(len(v) for v in expected_chunks(corpus).values())
    assert assert_sentences_in_step(store) > store.count()

    again = indexer.ingest([corpus])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert again.chunks == first.chunks

    county = corpus / "县委巡察.txt"
    county.write_text(county.read_text(encoding="utf-8") + "二、强化整改\n对巡察发现的问题建立台账，逐项销号。\n", encoding="utf-8")
    changed = indexer.ingest([corpus])
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 3)
    assert stored_chunks(store) == expected_chunks(corpus)
    assert_sentences_in_step(store)

    county.unlink()
    shrunk = indexer.ingest([corpus])
    assert shrunk.removed == 1
    assert stored_chunks(store) == expected_chunks(corpus)
    assert_sentences_in_step(store)
    assert {d.title for d in store.documents()} == {
        "2021年xx党委巡视工作综述", "2021年巡视巡察工作综述", "市委近五年巡视巡察工作综述"}


def test_remove_then_reingest_restores_exactly(corpus, kb):
    _, _, store, indexer, _ = kb
    indexer.ingest([corpus])
    total = store.count()
    victim = next(d for d in store.documents() if d.title == "2021年巡视巡察工作综述")
    assert store.remove(victim.doc_id) == victim.chunks
    assert store.count() == total - victim.chunks
    assert all(r["metadata"]["doc_id"] != victim.doc_id for r in store.iter_records())
    assert_sentences_in_step(store)
    with pytest.raises(UnknownDocumentError):
        store.remove(victim.doc_id)
    back = indexer.ingest([corpus])
    assert back.added == 1 and back.unchanged == 3
    assert store.count() == total
    assert stored_chunks(store) == expected_chunks(corpus)
    assert_sentences_in_step(store)


def test_doc_ids_are_stable_across_stores(corpus, kb, tmp_path, e5_embeddings):
    _, _, store, indexer, _ = kb
    indexer.ingest([corpus])
    other = Settings(home=tmp_path / "other")
    other_store = build_store(other, build_chroma_client(other), e5_embeddings)
    build_indexer(other, other_store, e5_embeddings, show_progress=False).ingest([corpus])
    assert [d.doc_id for d in store.documents()] == [d.doc_id for d in other_store.documents()]


def test_bad_file_is_reported_and_the_rest_goes_on(corpus, kb):
    _, _, store, indexer, _ = kb
    (corpus / "坏文件.txt").write_bytes(b"\x00\x01\x02binary\x00junk" * 50)
    (corpus / "空白.txt").write_text("   \n\n", encoding="utf-8")
    report = indexer.ingest([corpus, corpus / "不存在.txt"])
    failed = {Path(f["source"]).name: f["error"] for f in report.failed}
    assert set(failed) == {"坏文件.txt", "空白.txt", "不存在.txt"}
    assert "binary" in failed["坏文件.txt"] and "empty" in failed["空白.txt"]
    assert report.added == 4


def test_interrupted_update_keeps_a_complete_version(corpus, kb):
    """Writing a new version first and deleting the old one second leaves no gap and no duplicate."""
    _, _, store, indexer, _ = kb
    indexer.ingest([corpus])
    county = corpus / "县委巡察.txt"
    old = next(d for d in store.documents() if d.title == "2020年县委巡察工作总结")
    county.write_text(county.read_text(encoding="utf-8") + "三、成效\n问题整改率达到xx%。\n", encoding="utf-8")
    [doc] = load_documents(county)
    chunks = chunk_document(doc)
    # Simulate a crash after the new chunks were written but before the old ones were deleted.
    vectors = indexer.embeddings.encode_documents([c.text for c in chunks])
    store.collection.upsert(
        ids=[f"{doc.doc_id}:{doc.content_hash[:12]}:{c.order:05d}" for c in chunks[:1]],
        embeddings=vectors[:1].tolist(), documents=[chunks[0].text],
        metadatas=[{**next(store.iter_records(where={"doc_id": old.doc_id}))["metadata"],
                    "content_hash": doc.content_hash, "order": 0}],
    )
    assert next(d for d in store.documents() if d.doc_id == old.doc_id).versions == 2
    # ... and sentences of a version whose chunks were never written (a crash between the two).
    store.sentences.collection.upsert(ids=[f"{doc.doc_id}:deadbeef0000:00000:000"], embeddings=vectors[:1].tolist(),
                                      documents=["孤立的句子"], metadatas=[{"chunk_id": f"{doc.doc_id}:deadbeef0000:00000",
                                                                          "doc_id": doc.doc_id, "content_hash": "deadbeef",
                                                                          "year": 0, "level": "", "start": 0, "end": 5}])
    report = indexer.ingest([corpus])
    assert report.updated == 1
    assert stored_chunks(store) == expected_chunks(corpus)
    assert_sentences_in_step(store)


def test_search_finds_the_right_passage_with_filters(corpus, kb):
    _, _, store, indexer, retriever = kb
    indexer.ingest([corpus])
    results = retriever.search("交叉巡察是怎么组织的", k=5)
    assert [r.rank for r in results] == [1, 2, 3, 4, 5]
    assert results[0].score >= results[-1].score
    assert any("交叉巡察" in r.text and r.title == "市委近五年巡视巡察工作综述" for r in results[:3])
    hit = next(r for r in results if "交叉巡察" in r.text)
    assert hit.section.startswith("三、") and hit.source.endswith(SAMPLE_NAME)

    county = retriever.search("巡察", k=5, filters=SearchFilters(level="县"))
    assert county and {r.title for r in county} == {"2020年县委巡察工作总结"}
    year = retriever.search("巡视", k=20, filters=SearchFilters(year=2021))
    assert year and {r.year for r in year} == {2021}
    doc_id = next(d.doc_id for d in store.documents() if d.title == "2021年巡视巡察工作综述")
    only = retriever.search("整改", k=3, filters=SearchFilters(doc_ids=[doc_id]))
    assert len(only) == 3 and {r.doc_id for r in only} == {doc_id}


def test_other_model_is_refused_until_reindex(corpus, kb, minilm_embeddings):
    settings, client, store, indexer, _ = kb
    indexer.ingest([corpus])
    total = store.count()
    with pytest.raises(StoreError, match="xunshi reindex"):
        build_store(settings, client, minilm_embeddings)
    assert reindex(client, settings.collection, minilm_embeddings, show_progress=False) == total
    reopened = build_store(settings, client, minilm_embeddings)
    assert reopened.count() == total
    assert_sentences_in_step(reopened)
    assert build_retriever(settings, reopened, minilm_embeddings).search("inspection", k=1)
    with pytest.raises(StoreError):
        build_store(settings, client, indexer.embeddings)


def test_two_instances_share_one_chroma_server(corpus, chroma_server, tmp_path, e5_embeddings):
    """Two app instances (own homes, own lexical caches) on one server see each other's ingests."""
    collection = f"t_{uuid.uuid4().hex[:12]}"
    instances = []
    for name in ("a", "b"):
        settings = Settings(home=tmp_path / name, chroma_url=chroma_server, collection=collection)
        store = build_store(settings, build_chroma_client(settings), e5_embeddings)
        instances.append((build_indexer(settings, store, e5_embeddings, show_progress=False),
                          build_retriever(settings, store, e5_embeddings), store))
    (indexer_a, _, store_a), (_, retriever_b, store_b) = instances
    extra = corpus / "预警.txt"
    extra.write_text("2022年县委巡察工作要点\n\n建立“三色预警”机制，对整改滞后的单位亮灯督办。\n", encoding="utf-8")
    assert retriever_b.search("三色预警", k=3, mode="lexical") == []
    indexer_a.ingest([corpus])
    assert store_b.count() == store_a.count() > 0
    hits = retriever_b.search("三色预警", k=3, mode="lexical")  # b's lexical cache noticed a's ingest
    assert hits and "三色预警" in hits[0].text
    extra.write_text("2022年县委巡察工作要点\n\n建立“红黄绿”督办机制，对整改滞后的单位亮灯督办。\n", encoding="utf-8")
    indexer_a.ingest([corpus])  # same chunk count, new content
    assert retriever_b.search("三色预警", k=5, mode="lexical") == []
    assert "红黄绿" in retriever_b.search("红黄绿督办", k=1)[0].text


def test_unreachable_chroma_server_is_a_clear_error(tmp_path, e5_embeddings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(home=tmp_path / "home", chroma_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}"):
        build_store(settings, build_chroma_client(settings), e5_embeddings)


def _make_it_an_older_store(client, store) -> None:
    """What a store built before sentence vectors looks like: no sentence collection, no mark."""
    from vectorstore.sentences import SENTENCE_MARK

    client.delete_collection(store.sentences.name)
    current = client.get_collection(store.name, embedding_function=None)
    store.collection.modify(metadata={**(current.metadata or {}), SENTENCE_MARK: "none"})


def test_store_without_sentences_is_refused_then_backfilled(corpus, kb, e5_embeddings):
    settings, client, store, indexer, _ = kb
    indexer.ingest([corpus])
    total = store.count()
    _make_it_an_older_store(client, store)
    older = build_store(settings, client, e5_embeddings)
    assert not older.sentences_ready and older.chunks_without_sentences() == older.chunk_ids()
    with pytest.raises(StoreError, match="xunshi reindex"):
        build_retriever(settings, older, e5_embeddings)
    # The next ingest (or `xunshi reindex`, or serve) adds them first.
    report = build_indexer(settings, older, e5_embeddings, show_progress=False).ingest([corpus])
    assert report.unchanged == 4 and older.count() == total
    assert_sentences_in_step(older)
    hits = build_retriever(settings, older, e5_embeddings).search("以干代训", k=3)
    assert hits[0].sentence and "以干代训" in hits[0].sentence
    assert hits[0].text[hits[0].sentence_start:hits[0].sentence_end] == hits[0].sentence


def test_a_backfill_cut_short_resumes(corpus, kb, e5_embeddings):
    settings, client, store, indexer, _ = kb
    indexer.ingest([corpus])
    _make_it_an_older_store(client, store)
    older = build_store(settings, client, e5_embeddings)
    missing = sorted(older.chunk_ids())
    # The chunks of one document got their sentences before the process was killed.
    records = older.records(missing)
    part = [r for r in records if r["metadata"]["title"] == records[0]["metadata"]["title"]]
    _, sentences = indexer.embed_chunks(part[0]["metadata"]["title"],
                                        [(r["metadata"]["section"], r["text"]) for r in part], "test")
    older.add_sentences(part, sentences)
    assert not older.sentences_ready
    assert len(older.chunks_without_sentences()) == len(missing) - len(part)
    added = build_indexer(settings, older, e5_embeddings, show_progress=False).ensure_sentences()
    assert added == len(missing) - len(part)
    assert_sentences_in_step(older)
