"""The web chat (``xunshi serve``): a Gradio Blocks app over the same answer, draft and precedent functions.

Everything a user does lives in their session: the conversation is the Chatbot's value, the last
citations and the filters are session components (``gr.State`` and inputs), never attributes of a
shared object. Document text is always HTML-escaped before it reaches the page. The page asks
nothing of any host but this server: analytics are off and the theme uses system fonts only.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import logging
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.answer import cited_pieces, split_sentences
from assistant.checks import CITATION
from assistant.settings import Settings
from assistant.wordfile import save_word, word_filename
from ingest.errors import StoreBusyError, UsageError, XunshiError
from ingest.loaders import SUPPORTED_EXTENSIONS, is_supported
from ingest.models import row_label
from vectorstore.search import SearchFilters

logger = logging.getLogger(__name__)

MODES = ("问答", "起草", "查先例")
LEVELS = ("全部", "自治区", "省", "市", "县")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSS = """
.not-found {border-left: 4px solid #d97706; background: #fffbeb; padding: 8px 12px;}
#source-panel mark {background: #fde68a;}
#source-panel .context {color: #6b7280;}
#source-panel .passage {border-left: 3px solid #2563eb; padding-left: 8px; margin: 6px 0;}
"""


@dataclass
class Services:
    """What the page needs; built once by ``serve``, shared read-only by every session.

    ``library`` holds every knowledge base; ``access`` says which of them a request's user may read
    or change, and every handler asks it before touching one. ``writing()`` holds the store while
    an upload or a deletion changes it (reading commands in other processes wait;
    ``vectorstore.writelock``).
    """

    settings: Settings
    embeddings: Any
    library: Any
    access: Any
    audit: Any
    writing: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext


# --- rendering (pure functions, escaped) -----------------------------------------------------------

def esc(text: str) -> str:
    """Text as HTML text: markup in a document is shown, never run."""
    return html.escape(text or "", quote=True)


def _place(c: dict[str, Any]) -> str:
    """Where a cited passage sits: ``title › section`` (and ``第3页`` in a file of pages), or for a
    spreadsheet row ``title › Sheet1 第5行``."""
    if c.get("row") is not None:
        return f"{c['title']} › {row_label(c.get('sheet'), c['row'])}"
    where = f"{c['title']} › {c['section']}" if c.get("section") else c["title"]
    return f"{where} 第{c['page']}页" if c.get("page") else where


def render_answer(answer_text: str, found: bool, citations: list[dict[str, Any]], note: str = "") -> str:
    """An answer as the chat shows it: the text with its [n] markers, then the numbered sources."""
    body = esc(answer_text).replace("\n", "<br>")
    if not found:
        return f'<div class="not-found">⚠️ <b>未找到依据</b><br>{body}</div>' + (
            f"<br><small>{esc(note)}</small>" if note else "")
    lines = [body] + (["", "<b>来源</b>"] if citations else [])
    for c in citations:
        lines.append(f"[{c['n']}] {esc(_place(c))}")
    if note:
        lines.append(f"<small>（{esc(note)}）</small>")
    return "<br>".join(lines)


def source_choices(citations: list[dict[str, Any]]) -> list[str]:
    """Labels of the clickable source list."""
    return [f"[{c['n']}] {_place(c)}" for c in citations]


def render_panel(citation: dict[str, Any], before: str, after: str, cited: list[str]) -> str:
    """The side panel: title, section path, the passage in its context, cited sentences highlighted."""
    passage = esc(citation["text"])
    matched = [citation["sentence"]] if citation.get("sentence") else []
    for sentence in sorted(set(cited) | set(matched), key=len, reverse=True):
        escaped = esc(sentence)
        if escaped and escaped in passage:
            passage = passage.replace(escaped, f"<mark>{escaped}</mark>")
    facts = " · ".join(esc(str(x)) for x in (citation.get("year"), citation.get("level")) if x)
    return (
        f"<h3>[{citation['n']}] {esc(citation['title'])}</h3>"
        + (f"<p>{esc(citation['section'])}</p>" if citation.get("section") else "")
        + (f"<p>{esc(row_label(citation.get('sheet'), citation['row']))}</p>" if citation.get("row") is not None else "")
        + (f"<p><small>{facts}</small></p>" if facts else "")
        + (f'<p class="context">{esc(before)}</p>' if before else "")
        + f'<p class="passage">{passage}</p>'
        + (f'<p class="context">{esc(after)}</p>' if after else "")
        + f"<p><small>{esc(Path(citation['source']).name)}"
        + (f" 第{citation['page']}页" if citation.get("page") else "") + "</small></p>"
    )


def cited_sentences(answer_text: str, n: int, passage: str) -> list[str]:
    """Sentences of ``passage`` that the answer cites as [n] (the sentence holds the piece or the piece holds it)."""
    pieces = [piece for piece, numbers in cited_pieces(answer_text) if n in numbers]
    out = []
    for sentence in split_sentences(passage):
        core = sentence.rstrip("。；;！？!?")
        if any(core and core in piece or piece.strip() in sentence for piece in pieces):
            out.append(sentence)
    return out


# --- the page's functions ------------------------------------------------------------------------

def make_filters(docs: list[str] | None, year_from: float | None, year_to: float | None, level: str | None,
                 catalogue: dict[str, str]) -> SearchFilters:
    """Filters from the page's controls (document labels map to doc_ids through ``catalogue``)."""
    doc_ids = [catalogue[d] for d in docs or [] if d in catalogue]
    filters = SearchFilters(doc_ids=doc_ids, level=None if level in (None, "", "全部") else level)
    filters.year_from = int(year_from) if year_from else None
    filters.year_to = int(year_to) if year_to else None
    return filters


def document_labels(documents: list[tuple[str, Any]]) -> dict[str, str]:
    """``label → doc_id`` for the document filter, from ``(kb, StoredDocument)`` pairs."""
    return {f"{d.title}（{d.doc_id}）": d.doc_id for _, d in documents}


def deletion_labels(documents: list[tuple[str, Any]]) -> dict[str, tuple[str, str]]:
    """``label → (kb, doc_id)`` for the deletion list."""
    return {f"[{kb}] {d.title}（{d.doc_id}）": (kb, d.doc_id) for kb, d in documents}


TABLE_HEADERS = ["知识库", "标题", "年份", "层级", "片段", "来源文件", "导入时间", "doc_id"]


def documents_table(documents: list[tuple[str, Any]]) -> list[list[Any]]:
    """Rows of the knowledge-base table."""
    return [[kb, d.title, d.year or "", d.level or "", d.chunks, Path(d.source).name,
             d.added_at[:19].replace("T", " "), d.doc_id] for kb, d in documents]


def safe_upload_name(name: str) -> str:
    """A file name safe to store: no folders, no control or shell characters, extension kept."""
    base = Path(name).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w\u4e00-\u9fff（）()\-—_. ]+", "_", stem).strip(" ._") or "upload"
    return f"{stem[:80]}{suffix}"


def llm_status(settings: Settings) -> str:
    """LLM endpoint: not configured, reachable or not."""
    if not settings.llm_base_url:
        return "未配置（抽取式回答）"
    import httpx

    url = settings.llm_base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    try:
        response = httpx.get(url, timeout=3, headers=headers)
        ok = response.status_code < 500
    except httpx.HTTPError:
        ok = False
    return f"{settings.llm_base_url}（{'可连接' if ok else '无法连接'}）"


# --- the app ---------------------------------------------------------------------------------------

def build_app(services: Services) -> Any:
    """The Gradio Blocks app. Every handler takes the request's user and touches only the knowledge
    bases that user may read (or, to upload and delete, change)."""
    s = services
    library, access = s.library, s.access
    upload_dir = s.settings.home_dir / "uploads"
    max_bytes = s.settings.upload_max_mb * 1024 * 1024
    ingest_lock = threading.Lock()
    # Word files for download, in a temp folder of this server that Gradio serves as it is (no copy
    # in its cache): they hold passages, and the whole folder is removed when the server exits.
    word_dir = tempfile.TemporaryDirectory(prefix="xunshi-word-")
    gr.set_static_paths([word_dir.name])
    terms_cache: dict[tuple, list[str]] = {}

    def user_of(request: gr.Request | None) -> str | None:
        return getattr(request, "username", None) if request is not None else None

    def address_of(request: gr.Request | None) -> str | None:
        client = getattr(request, "client", None)
        return getattr(client, "host", None)

    def readable(request: gr.Request | None) -> list[str]:
        return access.readable(user_of(request), library.names())

    def writable(request: gr.Request | None) -> list[str]:
        return access.writable(user_of(request), library.names())

    def record(request: gr.Request | None, action: str, kbs: list[str], **fields: Any) -> None:
        s.audit.record(action, user_of(request) or "(page)", kbs, via="page", address=address_of(request), **fields)

    def status_text(request: gr.Request) -> str:
        kbs = readable(request)
        return status_of(kbs, library.documents(kbs), user_of(request))

    def status_of(kbs: list[str], documents: list[tuple[str, Any]], who: str | None) -> str:
        chunks = sum(library.shelf(kb).store.count() for kb in kbs)
        return ((f"**用户**：{esc(who)}（[退出登录](/logout)）  \n" if who else "")
                + f"**嵌入模型**：{s.embeddings.model_name}（{s.embeddings.dimension} 维，查询引擎 {s.embeddings.query_engine}）  \n"
                f"**大模型**：{llm_status(s.settings)}  \n"
                f"**可读知识库**：{esc('、'.join(kbs)) or '无'}  \n"
                f"**文档**：{len(documents)} 篇，**片段**：{chunks} 个")

    def chosen(picked: list[str] | None, request: gr.Request) -> list[str]:
        """The knowledge bases a question goes to: those picked that the user may read (all of theirs
        when none is picked). A name the user may not read is dropped as if it did not exist."""
        allowed = readable(request)
        return [kb for kb in picked if kb in allowed] if picked else allowed

    def ask(question: str, chat: list[dict[str, Any]], mode: str, docs: list[str], year_from: float | None,
            year_to: float | None, level: str, picked: list[str] | None, session: dict[str, Any],
            request: gr.Request) -> Iterator[tuple]:
        question = (question or "").strip()
        chat = list(chat or [])
        if not question:
            yield chat, "", gr.update(), gr.update(), session, gr.update()
            return
        kbs = chosen(picked, request)
        history = [{"role": m["role"], "content": _plain(m["content"])} for m in chat
                   if m.get("role") == "user"][-6:]
        chat = chat + [{"role": "user", "content": esc(question)}, {"role": "assistant", "content": "……"}]
        yield chat, "", gr.update(), gr.update(), session, gr.update()
        answerer = library.answerer(kbs) if kbs else None
        if answerer is None:
            if kbs:
                reason = "所选知识库中还没有文件。"
            elif picked:  # the same words for a name that does not exist: nothing is told of either
                reason = "所选知识库不存在或您无权查阅。"
            else:
                reason = "您没有可以查阅的知识库，请联系管理员授权。"
            chat[-1] = {"role": "assistant", "content": f'<div class="not-found">⚠️ {reason}</div>'}
            yield chat, "", gr.update(choices=[], value=None), "", {**(session or {}), "found": False}, gr.update()
            return
        filters = make_filters(docs, year_from, year_to, level, document_labels(library.documents(kbs)) if docs else {})
        if mode == "起草":
            result = _run(lambda on_token: _draft(answerer, question, filters, on_token))
        elif mode == "查先例":
            result = _run(lambda on_token: _precedents(answerer.retriever, question, filters))
        else:
            result = _run(lambda on_token: answerer.ask(question, history=history, filters=filters,
                                                        on_token=on_token).as_dict())
        partial = ""
        for kind, value in result:
            if kind == "token":
                partial += value
                chat[-1] = {"role": "assistant", "content": esc(partial) + " <small>（生成中，核对后显示）</small>"}
                yield chat, "", gr.update(), gr.update(), session, gr.update()
                continue
            payload = value
        if isinstance(payload, XunshiError):
            chat[-1] = {"role": "assistant", "content": f'<div class="not-found">出错：{esc(str(payload))}</div>'}
            # Nothing to save as Word: the buttons must not offer the answer before this one.
            yield chat, "", gr.update(), gr.update(), {**(session or {}), "found": False}, gr.update()
            return
        text = payload.get("answer", payload.get("draft", ""))
        citations = payload.get("citations", [])
        record(request, {"起草": "draft", "查先例": "precedents"}.get(mode, "ask"), kbs, query=question,
               doc_ids=list(dict.fromkeys(c["doc_id"] for c in citations)))
        session = {**(session or {}), "citations": citations, "answer": text, "title": question, "mode": mode,
                   "found": payload["found"]}
        # Stream the checked answer in, sentence by sentence.
        shown = ""
        for piece in re.findall(r".+?(?:[。！？；]|$)(?:\[\d+\])*", text) or [text]:
            shown += piece
            chat[-1] = {"role": "assistant", "content": render_answer(shown, payload["found"], [], "")}
            yield chat, "", gr.update(), gr.update(), session, gr.update()
        chat[-1] = {"role": "assistant", "content": render_answer(text, payload["found"], citations,
                                                                  payload.get("note", ""))}
        draft = gr.update(value=text, visible=True) if mode == "起草" and payload["found"] else gr.update(visible=False)
        yield (chat, "", gr.update(choices=source_choices(citations), value=None), "", session, draft)

    def _draft(answerer: Any, topic: str, filters: SearchFilters, on_token: Any) -> dict[str, Any]:
        from assistant.draft import write_draft

        return write_draft(answerer, topic, filters=filters, on_token=on_token).as_dict()

    def _precedents(retriever: Any, query: str, filters: SearchFilters) -> dict[str, Any]:
        from assistant.precedents import find_precedents

        _, groups = find_precedents(retriever, query, s.settings.relevance_threshold, filters)
        citations, lines, n = [], [], 0
        for g in groups:
            facts = " · ".join(str(x) for x in (g.date or g.year, g.level) if x)
            lines.append(f"■ {g.title}" + (f"（{facts}）" if facts else ""))
            for case in g.cases:
                n += 1
                citations.append({"n": n, "doc_id": g.doc_id, "title": g.title, "section": case.section,
                                  "text": case.text, "source": g.source, "year": g.year, "level": g.level,
                                  "sentence": case.sentence, "kb": g.kb})
                lines.append(f"  {case.section or '（无小节）'}：{case.sentence or case.text[:60]}[{n}]")
        found = bool(groups)
        text = "\n".join(lines) if found else f"没有找到与“{query}”相关的先例。"
        return {"answer": text, "found": found, "citations": citations, "note": ""}

    def word_files(session: dict[str, Any]) -> tuple:
        """The last draft or answer as a Word file for the download button beside it (hidden when
        there is nothing found to save)."""
        hidden = gr.update(value=None, visible=False)
        if not session or not session.get("found") or not session.get("answer"):
            return hidden, hidden
        for old in Path(word_dir.name).iterdir():  # a day is long enough to click the button
            if time.time() - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(dir=word_dir.name))
        try:
            path = save_word(folder / word_filename(session["title"]), session["title"], session["answer"],
                             session.get("citations", []))
        except XunshiError as e:
            raise gr.Error(f"未能生成Word文件：{e}") from e
        shown = gr.update(value=str(path), visible=True)
        return (shown, hidden) if session.get("mode") == "起草" else (hidden, shown)

    def open_source(choice: str | None, session: dict[str, Any], request: gr.Request) -> str:
        if not choice or not session or not session.get("citations"):
            return ""
        n = int(CITATION.match(choice).group(1))
        citation = next((c for c in session["citations"] if c["n"] == n), None)
        # Rights may have been revoked since the answer: the passage's context is read only if still allowed.
        if citation is None or citation.get("kb", "default") not in readable(request):
            return ""
        before, after = _context(citation)
        return render_panel(citation, before, after, cited_sentences(session.get("answer", ""), n, citation["text"]))

    def _context(citation: dict[str, Any]) -> tuple[str, str]:
        store = library.shelf(citation.get("kb", "default")).store
        records = sorted(store.iter_records(where={"doc_id": citation["doc_id"]}),
                         key=lambda r: int(r["metadata"].get("start") or 0))
        texts = [r["text"] for r in records]
        if citation["text"] not in texts:
            return "", ""
        i = texts.index(citation["text"])
        return (texts[i - 1] if i > 0 else ""), (texts[i + 1] if i + 1 < len(texts) else "")

    def upload(files: list[Any] | None, target_kb: str | None, request: gr.Request,
               progress: Any = gr.Progress()) -> str:
        files = files or []
        if not files:
            return "请先选择文件。"
        if not target_kb or target_kb not in writable(request):
            return "请选择一个您有导入权限的知识库。"
        shelf = library.shelf(target_kb)
        upload_dir.mkdir(parents=True, exist_ok=True)
        lines, stored = [], []
        for f in files:
            path = Path(getattr(f, "name", f))
            name = safe_upload_name(getattr(f, "orig_name", None) or path.name)
            if not is_supported(Path(name)):
                lines.append(f"✗ {esc(name)}：不支持的文件类型（可用 {' '.join(SUPPORTED_EXTENSIONS)}）")
                continue
            if path.stat().st_size > max_bytes:
                lines.append(f"✗ {esc(name)}：文件超过 {s.settings.upload_max_mb} MB")
                continue
            # One folder per knowledge base: the same file name in two of them is two files.
            target = _upload_folder(upload_dir, target_kb) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            stored.append(target)
        with ingest_lock:
            for i, target in enumerate(stored):
                progress((i, len(stored)), desc=f"导入 {target.name}")
                try:
                    with s.writing():
                        report = shelf.indexer.ingest([target])
                except StoreBusyError as e:
                    lines.append(f"✗ {esc(target.name)}：知识库正被其他命令读取，请稍后再试（{esc(str(e))}）")
                    continue
                record(request, "upload", [target_kb], file=target.name,
                       detail={"added": report.added, "updated": report.updated, "failed": len(report.failed)})
                if report.failed:
                    for failure in report.failed:
                        lines.append(f"✗ {esc(Path(failure['source']).name)}：{esc(failure['error'])}")
                else:
                    lines.append(f"✓ {esc(target.name)}：新增 {report.added}，更新 {report.updated}，未变 {report.unchanged}")
            progress((len(stored), len(stored)), desc="完成")
        return "<br>".join(lines)

    def delete(label: str | None, confirmed: bool, request: gr.Request) -> tuple:
        catalogue = deletion_labels(library.documents(writable(request)))
        if not label or label not in catalogue:
            return "请先选择要删除的文档。", gr.update(value=False), gr.update()
        if not confirmed:
            return "请勾选“确认删除”后再点删除。", gr.update(), gr.update()
        kb, doc_id = catalogue[label]
        store = library.shelf(kb).store
        with ingest_lock:
            source = next(d.source for d in store.documents() if d.doc_id == doc_id)
            try:
                with s.writing():
                    chunks = store.remove(doc_id)
            except StoreBusyError as e:
                return f"未删除：知识库正被其他命令读取，请稍后再试（{esc(str(e))}）", gr.update(), gr.update()
            record(request, "delete", [kb], file=Path(source).name, doc_ids=[doc_id])
            path = Path(source)
            if upload_dir in path.parents and not any(d.source == source for d in store.documents()):
                path.unlink(missing_ok=True)
        return f"已删除 {esc(label)}（{chunks} 个片段）。", gr.update(value=False), gr.update(value=None)

    def create_kb(name: str, description: str, request: gr.Request) -> tuple:
        if not access.is_admin(user_of(request)):
            return "只有管理员可以新建知识库。", gr.update(), gr.update()
        try:
            with ingest_lock, s.writing():
                kb = library.create(name or "", (description or "").strip())
        except (UsageError, StoreBusyError) as e:
            return f"未新建：{esc(str(e))}", gr.update(), gr.update()
        record(request, "kb_create", [kb.name], detail={"description": kb.description})
        return f"已新建知识库“{esc(kb.name)}”。", "", ""

    def remove_kb(name: str | None, confirmed: bool, request: gr.Request) -> tuple:
        if not access.is_admin(user_of(request)):
            return "只有管理员可以删除知识库。", gr.update(), gr.update()
        if not name or name not in library.names() or name == "default":
            return "请先选择要删除的知识库（default 不能删除）。", gr.update(value=False), gr.update()
        if not confirmed:
            return "请勾选“确认删除知识库”后再点删除。", gr.update(), gr.update()
        try:
            with ingest_lock, s.writing():
                chunks = library.remove(name)
        except (UsageError, StoreBusyError) as e:
            return f"未删除：{esc(str(e))}", gr.update(), gr.update()
        record(request, "kb_remove", [name], detail={"chunks": chunks})
        return f"已删除知识库“{esc(name)}”（{chunks} 个片段）。", gr.update(value=False), gr.update(value=None)

    def terms_of(kbs: list[str]) -> list[str]:
        key = tuple((kb, library.shelf(kb).store.state()) for kb in kbs)
        if key not in terms_cache:
            terms_cache.clear()
            terms_cache[key] = [t.term for t in _terms([library.shelf(kb).store for kb in kbs])[:200]]
        return terms_cache[key]

    def refresh_lists(target: str | None, request: gr.Request) -> tuple:
        """Every list of the page, for this user: what they may read, change and manage (``target``:
        the knowledge base picked to upload into, kept while the user may still change it)."""
        kbs, mine = readable(request), writable(request)
        documents = library.documents(kbs)
        labels = list(document_labels(documents))
        deletable = list(deletion_labels([(kb, d) for kb, d in documents if kb in mine]))
        admin = access.is_admin(user_of(request))
        listing = "  \n".join(f"**{esc(kb.name)}**：{kb.chunks} 个片段" + (f"，{esc(kb.description)}" if kb.description else "")
                              for kb in library.listing() if kb.name in kbs)
        return (gr.update(choices=labels), gr.update(choices=deletable), documents_table(documents),
                gr.update(choices=kbs), gr.update(choices=mine, value=target if target in mine else (mine or [None])[0]),
                gr.update(visible=admin), gr.update(choices=terms_of(kbs)), listing, status_of(kbs, documents, user_of(request)),
                gr.update(visible=bool(mine)),
                gr.update(choices=[kb for kb in library.names() if kb != "default"] if admin else []))

    with gr.Blocks(title="巡视巡察材料助手", analytics_enabled=False) as app:
        session = gr.State({})
        gr.Markdown("## 巡视巡察材料助手\n回答只依据已导入的文件材料，每句注明出处；材料中没有的，直接说明未找到。")
        with gr.Tabs():
            with gr.Tab("对话", id="chat-tab"):
                with gr.Row():
                    with gr.Column(scale=3):
                        with gr.Row():
                            mode = gr.Radio(list(MODES), value="问答", label="模式", elem_id="mode", scale=2)
                            # Any name is accepted (the API's callers have no list) and then checked
                            # against the user's rights in ``chosen``.
                            kb_pick = gr.Dropdown([], multiselect=True, label="知识库（不选即全部可查阅的）",
                                                  elem_id="kb-pick", scale=2, allow_custom_value=True)
                        chat = gr.Chatbot(label="对话", height=480, elem_id="chat", sanitize_html=True,
                                          render_markdown=False)
                        with gr.Row():
                            question = gr.Textbox(placeholder="输入问题或主题，回车发送", show_label=False, scale=5,
                                                  elem_id="question")
                            send = gr.Button("发送", variant="primary", scale=1, elem_id="send")
                        draft_box = gr.Textbox(label="起草结果（可复制）", lines=6, visible=False, buttons=["copy"],
                                               elem_id="draft")
                        draft_word = gr.DownloadButton("下载Word（公文格式）", visible=False, size="sm",
                                                       elem_id="draft-docx")
                        sources = gr.Radio([], label="来源（点击查看原文）", elem_id="sources")
                        answer_word = gr.DownloadButton("保存为Word", visible=False, size="sm", elem_id="answer-docx")
                        clear = gr.Button("清空对话", size="sm")
                    with gr.Column(scale=2):
                        panel = gr.HTML("", elem_id="source-panel")
                        with gr.Accordion("筛选", open=False):
                            doc_filter = gr.Dropdown([], multiselect=True, label="只在这些文档中", elem_id="doc-filter")
                            with gr.Row():
                                year_from = gr.Number(None, label="起始年份", precision=0, elem_id="year-from")
                                year_to = gr.Number(None, label="截止年份", precision=0, elem_id="year-to")
                            level = gr.Dropdown(list(LEVELS), value="全部", label="层级", elem_id="level")
                        with gr.Accordion("提法与文件（点击查先例）", open=False):
                            term_pick = gr.Dropdown([], label="文件中出现的提法、文件名", elem_id="terms")
            with gr.Tab("知识库", id="kb-tab"):
                kb_listing = gr.Markdown("", elem_id="kb-listing")
                with gr.Group(visible=False) as upload_box:
                    upload_kb = gr.Dropdown([], label="导入到知识库", elem_id="upload-kb")
                    files = gr.File(file_count="multiple", file_types=list(SUPPORTED_EXTENSIONS),
                                    label="上传文件（可多选）", elem_id="upload")
                    ingest_btn = gr.Button("导入", variant="primary", elem_id="ingest")
                ingest_log = gr.HTML("", elem_id="ingest-log")
                table = gr.Dataframe([], headers=TABLE_HEADERS, interactive=False, elem_id="docs-table")
                with gr.Row():
                    doc_pick = gr.Dropdown([], value=None, label="选择文档", elem_id="delete-pick")
                    confirm = gr.Checkbox(label="确认删除", elem_id="delete-confirm")
                    delete_btn = gr.Button("删除", variant="stop", elem_id="delete")
                with gr.Accordion("新建、删除知识库（管理员）", open=False, visible=False, elem_id="kb-admin") as admin_box:
                    new_kb = gr.Textbox(label="知识库名称", placeholder="如 2024第一轮巡视", elem_id="new-kb-name")
                    new_kb_description = gr.Textbox(label="说明", elem_id="new-kb-description")
                    create_btn = gr.Button("新建", elem_id="create-kb")
                    create_log = gr.Markdown("", elem_id="create-kb-log")
                    with gr.Row():
                        kb_remove_pick = gr.Dropdown([], value=None, label="删除知识库（连同其中全部文档）",
                                                     elem_id="remove-kb-pick")
                        kb_remove_confirm = gr.Checkbox(label="确认删除知识库", elem_id="remove-kb-confirm")
                        kb_remove_btn = gr.Button("删除知识库", variant="stop", elem_id="remove-kb")
            with gr.Tab("状态", id="status-tab"):
                status = gr.Markdown("", elem_id="status")
                gr.Button("刷新", elem_id="refresh-status").click(status_text, None, status, api_visibility="private")

        lists = [doc_filter, doc_pick, table, kb_pick, upload_kb, admin_box, term_pick, kb_listing, status, upload_box,
                 kb_remove_pick]
        # The knowledge bases come last: callers of the API from before them still fit.
        inputs = [question, chat, mode, doc_filter, year_from, year_to, level, kb_pick, session]
        outputs = [chat, question, sources, panel, session, draft_box]
        send.click(ask, inputs, outputs, api_name="ask", concurrency_limit=4).then(
            word_files, session, [draft_word, answer_word], api_visibility="private")
        question.submit(ask, inputs, outputs, api_visibility="private", concurrency_limit=4).then(
            word_files, session, [draft_word, answer_word], api_visibility="private")
        clear.click(lambda: (gr.update(value=None, visible=False),) * 2, None, [draft_word, answer_word],
                    api_visibility="private")
        sources.change(open_source, [sources, session], panel, api_visibility="private")
        clear.click(lambda: ([], gr.update(choices=[], value=None), "", {}, gr.update(visible=False)), None,
                    [chat, sources, panel, session, draft_box], api_visibility="private")
        term_pick.change(lambda t: (t or "", "查先例" if t else gr.update()), term_pick, [question, mode],
                         api_visibility="private")
        ingest_btn.click(upload, [files, upload_kb], ingest_log, api_visibility="private").then(
            refresh_lists, upload_kb, lists, api_visibility="private")
        delete_btn.click(delete, [doc_pick, confirm], [ingest_log, confirm, doc_pick], api_visibility="private").then(
            refresh_lists, upload_kb, lists, api_visibility="private")
        create_btn.click(create_kb, [new_kb, new_kb_description], [create_log, new_kb, new_kb_description],
                         api_visibility="private").then(refresh_lists, upload_kb, lists, api_visibility="private")
        kb_remove_btn.click(remove_kb, [kb_remove_pick, kb_remove_confirm], [create_log, kb_remove_confirm, kb_remove_pick],
                            api_visibility="private").then(refresh_lists, upload_kb, lists, api_visibility="private")
        app.load(refresh_lists, upload_kb, lists, api_visibility="private")
    return app


def _upload_folder(upload_dir: Path, kb: str) -> Path:
    """Where a knowledge base's uploads are kept: ``default``'s in the uploads folder itself (as
    before knowledge bases, so a file uploaded again keeps its document id), any other's in its own."""
    if kb == "default":
        return upload_dir
    return upload_dir / f"kb-{hashlib.sha256(kb.encode('utf-8')).hexdigest()[:12]}"


def _plain(content: Any) -> str:
    text = content if isinstance(content, str) else str(content)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _terms(store: Any) -> list[Any]:
    from assistant.precedents import list_terms

    return list_terms(store)


def _run(job: Any) -> Iterator[tuple[str, Any]]:
    """Run ``job(on_token)`` in a thread; yield ("token", piece)… then ("done", result or XunshiError)."""
    pieces: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            pieces.put(("done", job(lambda piece: pieces.put(("token", piece)))))
        except XunshiError as e:
            pieces.put(("done", e))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, value = pieces.get()
        yield kind, value
        if kind == "done":
            return


def theme() -> Any:
    """Gradio's default look with system fonts only (its own fonts would be fetched from the internet)."""

    fonts = ("Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "sans-serif")
    return gr.themes.Default(font=fonts, font_mono=("Noto Sans Mono CJK SC", "monospace"))


def serve(services: Services, host: str, port: int, users: Any, limiter: Any) -> None:
    """Run the page until interrupted: with a login whenever the users file holds a user (on
    loopback too), and on another address than loopback only then."""
    from starlette.middleware import Middleware

    from assistant.login import ClientAddress, authenticator

    if host not in LOOPBACK and not users.exists():
        raise UsageError(f"refusing to listen on {host} with no users: anyone on the network could read every "
                         "document. Add one first (`xunshi users add NAME --admin`), or keep the default "
                         "--host 127.0.0.1")
    app = build_app(services)
    app.queue(default_concurrency_limit=4)
    auth = authenticator(users, limiter, services.audit) if not services.access.open_page else None
    app.launch(server_name=host, server_port=port, auth=auth,
               auth_message="巡视巡察材料助手：请登录", theme=theme(), css=CSS, ssr_mode=False, share=False,
               show_error=True, footer_links=[], max_file_size=f"{services.settings.upload_max_mb}mb",
               allowed_paths=[], quiet=True, app_kwargs={"middleware": [Middleware(ClientAddress)]})


__all__ = ["Services", "build_app", "serve"]
