"""The ``xunshi`` command line. Results go to stdout (one JSON object with ``--json``); logs and
progress go to stderr. Exit codes: 0 success, 1 some input failed, 2 usage error (among them another
process writing the same embedded store: ``vectorstore.writelock``)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from assistant.settings import Settings
from ingest.errors import ConfigError, UsageError, XunshiError
from ingest.models import row_label

log = logging.getLogger("xunshi")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _services():
    # Imported here so that `xunshi --help` stays instant and nothing loads at import time.
    from assistant import services

    return services


def _kbs(args: argparse.Namespace) -> list[str]:
    """The knowledge bases a command names with ``--kb`` (``default`` when none), checked and in order."""
    from vectorstore.knowledge_bases import DEFAULT_KB, check_name

    given = getattr(args, "kb", None) or [DEFAULT_KB]
    return list(dict.fromkeys(check_name(kb) for kb in ([given] if isinstance(given, str) else given)))


def _open_retriever(settings: Settings, args: argparse.Namespace) -> tuple[Any, Any]:
    """(embeddings, retriever) over the command's knowledge bases, opened for reading (EmptyStoreError
    when none of them holds anything)."""
    from assistant.kbs import open_retriever

    embeddings = _services().build_embeddings(settings)
    return embeddings, open_retriever(settings, _kbs(args), embeddings)


def _open_stores(settings: Settings, args: argparse.Namespace) -> list[tuple[str, Any]]:
    """``(kb, store)`` of the command's knowledge bases, for listing: no model is loaded."""
    from assistant.kbs import open_stores

    return open_stores(settings, _kbs(args))


def _writing_store(settings: Settings, embeddings: Any | None, kb: str) -> Any:
    """The store of knowledge base ``kb`` for a writing command (call it inside ``_writer(...).changing()``)."""
    services = _services()
    return services.build_store(settings, services.build_chroma_client(settings), embeddings, kb=kb)


def _record(settings: Settings, action: str, kbs: list[str], **fields: Any) -> None:
    """One line in the access log (``assistant.audit``) for what this command did, as the system user."""
    from assistant.audit import audit_log, system_user

    audit_log(settings).record(action, system_user(), kbs, via="cli", **fields)


def _writer(settings: Settings, args: argparse.Namespace, page: str | None = None) -> Any:
    """The right to write the embedded store under home, for this whole command (StoreBusyError,
    exit 2, if another process holds it); a Chroma server needs none."""
    from vectorstore.writelock import ServerWrites, WriterLock

    if settings.chroma_url:
        return ServerWrites()
    return WriterLock(settings.home_dir, args.command_line, wait=settings.store_wait, page=page)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    with _writer(settings, args) as writer:
        embeddings = _services().build_embeddings(settings)
        with writer.changing():
            store = _writing_store(settings, embeddings, _kbs(args)[0])
            indexer = _services().build_indexer(settings, store, embeddings, show_progress=not args.quiet)
            report = indexer.ingest([Path(p) for p in args.paths])
        if report.chunks:  # reads the store only: readers need not wait for it
            _services().prepare_for_queries(settings, store, embeddings)
    _record(settings, "upload", _kbs(args), file=" ".join(str(Path(p).resolve()) for p in args.paths),
            detail={"added": report.added, "updated": report.updated, "removed": report.removed,
                    "failed": len(report.failed)})
    for skipped in report.skipped:
        log.info("skipped %s: %s", skipped["source"], skipped["reason"])
    for failure in report.failed:
        print(f"xunshi: failed: {failure['source']}: {failure['error']}", file=sys.stderr)
    if args.json:
        _emit_json(report.as_dict())
    else:
        print(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"removed {report.removed}, failed {len(report.failed)}, skipped {len(report.skipped)}; "
            f"the index holds {report.documents} documents, {report.chunks} chunks"
        )
    if report.failed:
        print(f"xunshi: {len(report.failed)} file(s) failed; the others were ingested", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    _, retriever = _open_retriever(settings, args)
    filters = _filters(args)
    passages = retriever.search(args.query, k=args.k, filters=filters, mode=args.mode)
    _record(settings, "search", _kbs(args), query=args.query, doc_ids=_unique(p.doc_id for p in passages))
    if args.json:
        _emit_json({"query": args.query, "results": [p.as_dict() for p in passages]})
        return EXIT_OK
    if not passages:
        print("no passages found (is anything ingested? see `xunshi docs list`)")
    for p in passages:
        where = _where(p)
        # The similarity a reader can judge: of the passage's sentence nearest to the question.
        similarity = next((x for x in (p.sentence_score, p.dense_score) if x is not None), p.score)
        print(f"{p.rank:>2}. [{similarity:.3f}] {_in_kb(p.kb, args)}{where}{_on_page(p.page)}")
        print(textwrap.indent(p.text, "    "))
        if p.sentence:
            print(f"    ▸ {p.sentence}")
        print()
    return EXIT_OK


def _answerer(settings: Settings, args: argparse.Namespace) -> Any:
    embeddings, retriever = _open_retriever(settings, args)
    return _services().build_answerer(settings, retriever, embeddings)


def _unique(doc_ids: Any) -> list[str]:
    return list(dict.fromkeys(doc_ids))


def _in_kb(kb: str, args: argparse.Namespace) -> str:
    """``[kb] `` before a passage when several knowledge bases were searched."""
    return f"[{kb}] " if len(_kbs(args)) > 1 else ""


def _filters(args: argparse.Namespace) -> Any:
    from vectorstore.search import SearchFilters

    return SearchFilters(doc_ids=getattr(args, "doc", None) or [], year=getattr(args, "year", None),
                         level=getattr(args, "level", None))


def _read_history(path: str | None) -> list[dict[str, str]]:
    """``--history FILE.json``: a list of {"role": "user"|"assistant", "content": ...}."""
    if not path:
        return []
    try:
        turns = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read history {path}: {e}") from e
    if isinstance(turns, dict):
        turns = turns.get("history") or turns.get("messages") or []
    if not isinstance(turns, list) or not all(isinstance(t, dict) and "content" in t for t in turns):
        raise ConfigError(f'{path}: expected a JSON list of {{"role": "user"|"assistant", "content": ...}}')
    return [{"role": str(t.get("role", "user")), "content": str(t["content"])} for t in turns]


def _where(item: Any) -> str:
    """A passage's place: ``title › section``, or for a spreadsheet row ``title › Sheet1 第5行``."""
    if getattr(item, "row", None) is not None:
        return f"{item.title} › {row_label(item.sheet, item.row)}"
    return f"{item.title} › {item.section}" if item.section else item.title


def _on_page(page: int | None) -> str:
    """Where in its file a passage starts, for a citation: `` 第3页``, or nothing for a file without pages."""
    return f" 第{page}页" if page else ""


def _print_citations(citations: list[Any]) -> None:
    for c in citations:
        where = _where(c)
        print(f"[{c.n}] {where}  ({Path(c.source).name}{_on_page(c.page)})")
        text = " ".join(c.text.split())
        print(textwrap.indent(text if len(text) <= 120 else text[:120] + "…", "    "))


def _show(args: argparse.Namespace, payload: dict[str, Any], text: str, note: str, citations: list[Any],
          title: str = "") -> int:
    """An answer or draft: the JSON object, or the text, its note on stderr and its citations; with
    ``--docx FILE``, also saved as a Word file (written before anything is printed)."""
    if getattr(args, "docx", None):
        from assistant.wordfile import save_word

        payload = {**payload, "docx": str(save_word(args.docx, title, text, citations))}
        log.info("saved as Word: %s", payload["docx"])
    if args.json:
        _emit_json(payload)
        return EXIT_OK
    print(text)
    if note:
        print(f"（{note}）", file=sys.stderr)
    if citations:
        print()
        _print_citations(citations)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    answerer = _answerer(settings, args)
    answer = answerer.ask(args.question, history=_read_history(args.history), filters=_filters(args))
    _record(settings, "ask", _kbs(args), query=args.question, doc_ids=_unique(c.doc_id for c in answer.citations))
    return _show(args, answer.as_dict(), answer.answer, answer.note, answer.citations, title=args.question)


def cmd_draft(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.draft import write_draft

    draft = write_draft(_answerer(settings, args), args.topic, filters=_filters(args), length=args.length)
    _record(settings, "draft", _kbs(args), query=args.topic, doc_ids=_unique(c.doc_id for c in draft.citations))
    return _show(args, draft.as_dict(), draft.draft, draft.note, draft.citations, title=args.topic)


def cmd_precedents(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.precedents import as_dicts, find_precedents

    _, retriever = _open_retriever(settings, args)
    matched, groups = find_precedents(retriever, args.query, settings.relevance_threshold, _filters(args))
    _record(settings, "precedents", _kbs(args), query=args.query, doc_ids=_unique(g.doc_id for g in groups))
    if args.json:
        _emit_json({"query": args.query, "matched": matched, "count": sum(len(g.cases) for g in groups),
                    "documents": as_dicts(groups)})
        return EXIT_OK
    if not groups:
        print(f"没有找到与“{args.query}”相关的先例。")
    for g in groups:
        facts = " · ".join(str(x) for x in (g.date or g.year, g.level) if x)
        print(f"■ {_in_kb(g.kb, args)}{g.title}" + (f"（{facts}）" if facts else "") + f"  [{g.doc_id}]")
        for case in g.cases:
            if case.row is not None:  # a ledger's row: the whole row, its 整改措施 included
                print(f"  › {row_label(case.sheet, case.row)}")
                print(textwrap.indent(case.text, "    "))
                continue
            print(f"  › {case.section}" if case.section else "  ›")
            print(textwrap.indent(f"「{case.sentence}」" if case.sentence else case.text, "    "))
        print()
    return EXIT_OK


def cmd_terms(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.precedents import as_dicts, list_terms

    terms = list_terms([store for _, store in _open_stores(settings, args)])
    if args.json:
        _emit_json({"count": len(terms), "terms": as_dicts(terms)})
        return EXIT_OK
    for t in terms[: args.limit] if args.limit else terms:
        mark = f"“{t.term}”" if t.kind == "practice" else f"《{t.term}》"
        titles = "；".join(d["title"] for d in t.documents[:3]) + ("…" if len(t.documents) > 3 else "")
        print(f"{t.count:>4}  {mark}  {titles}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.access import Access
    from assistant.audit import audit_log
    from assistant.library import Library
    from assistant.llm import build_chat_model
    from assistant.login_limiter import LoginLimiter
    from assistant.users import UserStore, refuse_old_auth
    from assistant.web import LOOPBACK, Services, serve

    refuse_old_auth(settings)
    users = UserStore(settings.users_path)
    if args.host not in LOOPBACK and not users.exists():
        print(f"xunshi: refusing to listen on {args.host} with no users: anyone on the network could read every "
              "document. Add one first (`xunshi users add NAME --admin`, then `xunshi users grant NAME KB read`), "
              "or keep --host 127.0.0.1", file=sys.stderr)
        return EXIT_USAGE
    services = _services()
    url = f"http://{args.host}:{args.port}"
    # The page is this home's one writer for as long as it runs: uploads and deletions go through it.
    with _writer(settings, args, page=url) as writer:
        embeddings = services.build_embeddings(settings)
        with writer.changing():
            library = Library(settings, embeddings, services.build_chroma_client(settings),
                              build_chat_model(settings), services.load_prompts())
            # Open every knowledge base and load the query engine, both vector indexes and the lexical
            # indexes now: the first question should not wait for them, and no reading command should
            # read the index files meanwhile.
            library.warm()
        page = Services(settings, embeddings, library, Access(users, open_page=not users.exists()),
                        audit_log(settings), writing=writer.changing)
        print(f"xunshi: serving on {url}" + (" (login required)" if users.exists() else ""), file=sys.stderr)
        # `kill` stops the page as Ctrl-C does, so the writer lock is released on the way out.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        serve(page, args.host, args.port, users,
              LoginLimiter(settings.login_attempts, settings.login_wait))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from vectorstore.evaluate import evaluate, load_questions

    questions = load_questions(Path(args.qa))
    negatives = load_questions(Path(args.negatives), need_gold=False) if args.negatives else None
    if args.half:
        # Half A is the 1st, 3rd, 5th… question of each file, half B the 2nd, 4th…: one half to choose a
        # setting on, the other to report it on.
        start = 0 if args.half == "A" else 1
        questions = questions[start::2]
        negatives = negatives[start::2] if negatives is not None else None
    if args.answers:
        return _eval_answers(args, settings, questions, negatives or [])
    _, retriever = _open_retriever(settings, args)
    report = evaluate(retriever, questions, k=args.k, negatives=negatives, threshold=settings.relevance_threshold)
    if args.json:
        _emit_json(report)
        return EXIT_OK
    k = args.k
    print(f"{report['n']} questions, k={k}")
    print(f"| retriever | hit@1 | recall@{k} | mrr@10 |")
    print("|---|---|---|---|")
    for mode in ("lexical", "dense", "hybrid"):
        m = report[mode]
        print(f"| {mode} | {m['hit@1']:.3f} | {m[f'recall@{k}']:.3f} | {m['mrr@10']:.3f} |")
    missed = [row["q"] for row in report["per_query"] if row.get("hybrid_rank") is None or row["hybrid_rank"] > k]
    if missed:
        print(f"\nhybrid misses (not in top {k}):")
        for q in missed:
            print(f"  - {q}")
    if "separation" in report:
        sep = report["separation"]
        print(f"\nrelevance signal (best sentence cosine in the top {k}) on {sep['n_out_of_scope']} out-of-scope questions:")
        print(f"  AUC {sep['auc']:.3f}; answerable mean {sep['answerable_mean']}, out-of-scope mean {sep['out_of_scope_mean']}")
        print(f"  best threshold {sep['best_threshold']} gives accuracy {sep['accuracy_at_best']:.3f}")
        if "configured_threshold" in sep:
            print(f"  configured threshold {sep['configured_threshold']}: answerable kept {sep['answerable_kept']:.3f}, "
                  f"out-of-scope refused {sep['out_of_scope_refused']:.3f}")
    return EXIT_OK


def cmd_docs_list(args: argparse.Namespace, settings: Settings) -> int:
    stores = _open_stores(settings, args)
    docs = [(kb, d) for kb, store in stores for d in store.documents()]
    if args.json:
        _emit_json({"documents": [{**d.as_dict(), "kb": kb} for kb, d in docs], "count": len(docs),
                    "chunks": sum(store.count() for _, store in stores)})
        return EXIT_OK
    if not docs:
        print("no documents yet: run `xunshi ingest PATH`")
    for kb, d in docs:
        meta = " ".join(str(v) for v in (d.date or d.year, d.level) if v)
        print(f"{_in_kb(kb, args)}{d.doc_id}  {d.title}  [{meta or '-'}]  {d.chunks} chunks  {d.source}")
    return EXIT_OK


def cmd_docs_remove(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kbs(args)[0]
    with _writer(settings, args) as writer, writer.changing():
        store = _writing_store(settings, None, kb)
        removed = {doc_id: store.remove(doc_id) for doc_id in args.doc_ids}
    _record(settings, "delete", [kb], doc_ids=list(removed))
    if args.json:
        _emit_json({"removed": [{"doc_id": d, "chunks": n, "kb": kb} for d, n in removed.items()]})
    else:
        for doc_id, n in removed.items():
            print(f"removed {doc_id} ({n} chunks)")
    return EXIT_OK


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.kbs import knowledge_base_names
    from ingest.errors import StoreError
    from vectorstore.knowledge_bases import collection_name
    from vectorstore.reindex import reindex

    services = _services()
    reindexed = added = 0
    full = []  # the knowledge bases re-embedded whole
    with _writer(settings, args) as writer:
        embeddings = services.build_embeddings(settings)
        with writer.changing():
            client = services.build_chroma_client(settings)
            # Every knowledge base unless --kb names some: a new model concerns them all.
            for kb in _kbs(args) if getattr(args, "kb", None) else knowledge_base_names(settings, client):
                try:
                    store = None if args.full else services.build_store(settings, client, embeddings, kb=kb)
                except StoreError:
                    store = None  # built with another model: everything is re-embedded
                if store is not None:
                    # Same model: only what is missing (the sentence vectors of a store built before them).
                    indexer = services.build_indexer(settings, store, embeddings, show_progress=not args.quiet)
                    added += indexer.ensure_sentences()
                else:
                    reindexed += reindex(client, collection_name(settings.collection, kb), embeddings, not args.quiet)
                    full.append(kb)
    if args.json:
        _emit_json({"reindexed": reindexed, "sentences_added": added, "embed_model": embeddings.model_name,
                    "knowledge_bases": full})
    elif not full:
        print(f"the index is up to date with {embeddings.model_name}: sentence vectors added to {added} chunks "
              "(`xunshi reindex --full` re-embeds everything)")
    else:
        print(f"re-embedded {reindexed} chunks and their sentences with {embeddings.model_name} "
              f"({', '.join(full)})")
    return EXIT_OK


def _eval_answers(args: argparse.Namespace, settings: Settings, questions: list[Any], negatives: list[Any]) -> int:
    from assistant.answer_eval import evaluate_answers

    report = evaluate_answers(_answerer(settings, args), questions, negatives)
    if args.json:
        _emit_json(report)
        return EXIT_OK
    print(f"{report['n']} answerable questions" + (f", {len(negatives)} out of scope" if negatives else ""))
    print("| measure | value |")
    print("|---|---|")
    for key in ("answer_rate", "gold_in_answer", "verbatim_share", "citations_consistent", "refusal_rate"):
        if key in report:
            print(f"| {key} | {report[key]:.3f} |")
    wrong = [row for row in report["per_query"] if row["found"] == bool(row.get("out_of_scope"))]
    if wrong:
        print("\nwrongly refused / wrongly answered:")
        for row in wrong:
            print(f"  - {'answered' if row['found'] else 'refused'}: {row['q']}  {row['note']}")
    return EXIT_OK


READING_COMMANDS = ("search", "ask", "draft", "precedents", "terms", "eval", "docs")
_EXAMPLES = {"search": 'xunshi search "交叉巡察是怎么组织的"', "ask": 'xunshi ask "巡审联动怎么开展？"',
             "draft": 'xunshi draft "巡视整改"', "precedents": 'xunshi precedents "推磨式"'}


def _check_usage(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse, before anything is loaded, what cannot give a meaningful result.

    Raises:
        UsageError: an empty question or topic, ``-k`` below 1, a ``--docx`` file that cannot be
            written, or a reading command on a home that does not exist.
    """
    for name in ("query", "question", "topic"):
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise UsageError(f"the {name} is empty: give one, e.g. {_EXAMPLES.get(args.command, 'xunshi --help')}")
    if getattr(args, "k", None) is not None and args.k < 1:
        raise UsageError(f"-k must be 1 or more (got {args.k}): the number of passages to show")
    if getattr(args, "docx", None):
        from assistant.wordfile import check_target

        check_target(args.docx)
    if args.command in READING_COMMANDS and not settings.chroma_url and not settings.home_dir.exists():
        raise UsageError(f"the data directory {settings.home_dir} does not exist: check --home / XUNSHI_HOME, "
                         "or create it with `xunshi ingest PATH`")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="xunshi", description="巡视巡察材料离线助手 — offline assistant over inspection materials.")
    parser.add_argument("--home", type=Path, help="data directory (default: $XUNSHI_HOME or ~/.xunshi)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for another xunshi process that is changing (or, for a writer, "
                             "reading) the embedded store before giving up (default $XUNSHI_STORE_WAIT or 60)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    def docx_flag(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--docx", metavar="FILE.docx",
                       help=f"also save it as a Word file in the official layout (公文): {what}")

    def kb_read(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kb", action="append", metavar="NAME",
                       help="knowledge base to read (repeatable; default: default; see `xunshi kb list`)")

    def kb_write(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kb", metavar="NAME", help="knowledge base to change (default: default)")

    def add_filters(p: argparse.ArgumentParser) -> None:
        kb_read(p)
        p.add_argument("--doc", action="append", metavar="DOC_ID", help="only this document (repeatable)")
        p.add_argument("--year", type=int, help="only documents of this year")
        p.add_argument("--level", choices=["自治区", "省", "市", "县"], help="only documents of this level")

    p = sub.add_parser("ingest", help="add or update files and folders in the index")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    p.add_argument("--chunk-size", type=int, help="target chunk size in characters (default 300)")
    kb_write(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    json_flag(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="find the passages that best match a question")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    add_filters(p)
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid",
                   help="retriever: hybrid (default), dense (embeddings) or lexical (BM25)")
    json_flag(p)
    p.set_defaults(func=cmd_search, reads_store=True)

    p = sub.add_parser("ask", help="answer a question from the documents, with citations")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--history", metavar="FILE.json", help='earlier turns: [{"role": "user", "content": ...}, ...]')
    add_filters(p)
    docx_flag(p, "the question as title, the answer, its sources")
    json_flag(p)
    p.set_defaults(func=cmd_ask, reads_store=True)

    p = sub.add_parser("draft", help="draft a summary paragraph (一是…二是…) from the documents, cited")
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--length", type=int, default=300, help="target length in characters (default 300)")
    add_filters(p)
    docx_flag(p, "the topic as title, the paragraph, its sources")
    json_flag(p)
    p.set_defaults(func=cmd_draft, reads_store=True)

    p = sub.add_parser("precedents", help="cases of a practice across documents, grouped, newest first")
    p.add_argument("query", metavar="QUERY", help="a named practice (see `xunshi terms`) or any description")
    add_filters(p)
    json_flag(p)
    p.set_defaults(func=cmd_precedents, reads_store=True)

    p = sub.add_parser("terms", help="named practices (“…”) and documents (《…》) found in the corpus")
    p.add_argument("--limit", type=int, default=0, help="show only the most frequent N (text output)")
    kb_read(p)
    json_flag(p)
    p.set_defaults(func=cmd_terms, reads_store=True)

    p = sub.add_parser("serve", help="the web chat (Gradio) on this machine")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a user: `xunshi users add`)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="measure retrieval on a question set (JSONL)")
    p.add_argument("qa", metavar="QA.jsonl", help='lines of {"q": ..., "gold": [substrings], "doc": optional}')
    p.add_argument("-k", type=int, default=5, help="cut-off for recall (default 5)")
    p.add_argument("--negatives", metavar="FILE", help="out-of-scope questions (JSONL with q) for the separation figures")
    p.add_argument("--half", choices=["A", "B"],
                   help="only half of the questions: A = lines 1, 3, 5…, B = lines 2, 4, 6… (choose on one, report on the other)")
    p.add_argument("--answers", action="store_true",
                   help="measure the answer step instead: answer rate, verbatim share, refusal rate")
    kb_read(p)
    json_flag(p)
    p.set_defaults(func=cmd_eval, reads_store=True)

    docs = sub.add_parser("docs", help="list or remove documents").add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    p = docs.add_parser("list", help="list the stored documents")
    kb_read(p)
    json_flag(p)
    p.set_defaults(func=cmd_docs_list, reads_store=True)
    p = docs.add_parser("remove", help="remove documents and all their chunks")
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    kb_write(p)
    json_flag(p)
    p.set_defaults(func=cmd_docs_remove)

    p = sub.add_parser("reindex", help="bring the index up to date with the configured model (sentence vectors "
                       "of an older index; everything when the model changed)")
    p.add_argument("--full", action="store_true", help="re-embed every chunk and sentence even if the model is the same")
    p.add_argument("--kb", action="append", metavar="NAME", help="only this knowledge base (repeatable; default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    json_flag(p)
    p.set_defaults(func=cmd_reindex)
    from assistant import cli_audit, cli_kb, cli_users

    cli_kb.register(sub, json_flag)
    cli_users.register(sub, json_flag)
    cli_audit.register(sub, json_flag)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="xunshi: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "urllib3", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overrides = {"home": args.home} if args.home else {}
    if getattr(args, "chunk_size", None):
        overrides["chunk_size"] = args.chunk_size
    if args.wait is not None:
        overrides["store_wait"] = args.wait
    try:
        settings = Settings(**overrides)
    except ValueError as e:
        print(f"xunshi: invalid setting: {e}", file=sys.stderr)
        return EXIT_USAGE
    from assistant.services import apply_offline_environment

    apply_offline_environment(settings)
    args.command_line = " ".join(["xunshi", *(sys.argv[1:] if argv is None else argv)])
    try:
        _check_usage(args, settings)
        if getattr(args, "reads_store", False) and not settings.chroma_url:
            from vectorstore.writelock import reading

            # Held until the command ends: the writer changes nothing while the store is read.
            with reading(settings.home_dir, settings.store_wait):
                return args.func(args, settings)
        return args.func(args, settings)
    except UsageError as e:
        print(f"xunshi: {e}", file=sys.stderr)
        return EXIT_USAGE
    except XunshiError as e:
        print(f"xunshi: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("xunshi: interrupted", file=sys.stderr)
        return 130
