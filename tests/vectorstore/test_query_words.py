"""Queries are cut with jieba's dictionary read from disk, exactly as chunks are cut with it in memory."""

from pathlib import Path

from vectorstore.lexical import ChineseTokenizer

ROOT = Path(__file__).resolve().parents[2]


def test_queries_are_cut_like_chunks_without_loading_the_dictionary(tmp_path):
    texts = []
    for path in sorted((ROOT / "examples").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [text[i:i + 120] for i in range(0, len(text), 200)]
    texts += ["老家亲戚的事巡察组能不能插手", "“推磨式”交叉巡察找谁批", "ＡＢＣ１２３，全角", "x" * 300, ""]
    indexing = ChineseTokenizer(tmp_path)
    expected = [indexing.tokenize(t) for t in texts]  # loads jieba's dictionary, saves it for queries
    saved = list(tmp_path.glob("query-words-*.sqlite"))
    assert len(saved) == 1
    querying = ChineseTokenizer(tmp_path)
    assert [querying.tokenize(t, for_query=True) for t in texts] == expected
    assert querying._full is None  # the dictionary itself was never loaded
    assert len(texts) > 30 and sum(map(len, expected)) > 300
