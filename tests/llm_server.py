"""A real, scripted OpenAI-compatible chat server on 127.0.0.1, for tests of the LLM path.

It speaks enough of the chat-completions API (streamed and not, ``GET /v1/models``, error bodies) for
``langchain_openai.ChatOpenAI`` to work against it unchanged::

    with ScriptedLLM(["巡视发现问题12个。[1]"]) as llm:
        settings = Settings(home=tmp_path, llm_base_url=llm.base_url, llm_model="test-model")
        ...
        assert llm.requests[0]["stream"] is True
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "test-model"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def split_reply(text: str, pieces: int) -> list[str]:
    """``text`` cut into up to ``pieces`` consecutive non-empty parts (how a model streams tokens)."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i:i + size] for i in range(0, len(text), size)]


class ScriptedLLM:
    """An OpenAI-compatible chat server that answers from a script.

    Attributes:
        replies: Replies returned in order; the last one repeats when the queue runs out.
        status: HTTP status for chat completions; anything but 200 answers with an OpenAI-style error body.
        delay: Seconds to wait before answering (to exceed a client's timeout).
        pieces: How many chunks a streamed reply is split into.
        stream_error: When set, a streamed reply breaks off after its first piece with an error event
            carrying this message (as vLLM and llama.cpp report a failure mid-generation).
        model: The model name listed and echoed back.
        requests: JSON bodies of the chat-completion requests received, in order.
        paths: Every request received, as ``"METHOD /path"``, whatever its path (to prove what was not sent).
    """

    def __init__(self, replies: Iterable[str] = ("好的。",), *, status: int = 200, delay: float = 0.0,
                 pieces: int = 4, stream_error: str | None = None, model: str = DEFAULT_MODEL) -> None:
        self.replies = list(replies)
        self.status = status
        self.delay = delay
        self.pieces = pieces
        self.stream_error = stream_error
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``, the server's root."""
        if self._server is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The endpoint to configure as ``llm_base_url``: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.origin}/v1"

    def start(self) -> ScriptedLLM:
        """Start serving in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        # A short poll keeps shutdown() (which waits for the next poll) from costing half a second per test.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; handlers waiting out a delay are woken and drop their connection."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def next_reply(self, body: dict[str, Any]) -> str:
        """Record ``body`` and return the next scripted reply."""
        with self._lock:
            self.requests.append(body)
            if len(self.replies) > 1:
                return self.replies.pop(0)
            return self.replies[0] if self.replies else ""

    def wait(self) -> bool:
        """Sleep out ``delay``; False when the server is closing meanwhile."""
        return not self._closing.wait(self.delay) if self.delay > 0 else True


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping out ``delay`` must not block close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hangs up (its timeout, a closed keep-alive) is not a server fault
        super().handle_error(request, client_address)


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(_ChatHandler):
        script = llm

    return Handler


class _ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as real servers do
    script: ScriptedLLM

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return  # keep test output clean

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            self.script.paths.append(f"{self.command} {self.path}")
        return ok

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._send_error(404, f"Unknown path {self.path}", "not_found_error")
            return
        model = {"id": self.script.model, "object": "model", "created": int(time.time()), "owned_by": "xunshi-tests"}
        self._send_json(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"Unknown path {self.path}", "not_found_error")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error(400, "The request body is not valid JSON.", "invalid_request_error")
            return
        reply = self.script.next_reply(body)
        try:
            if not self.script.wait():
                return
            if self.script.status != 200:
                self._send_error(self.script.status, "The scripted server failed on purpose.", "server_error")
            elif body.get("stream"):
                self._stream(body, reply)
            else:
                self._send_json(200, self._completion(body, reply))
        except ConnectionError:
            return  # the client gave up (e.g. its timeout) before we answered

    def do_PATCH(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send_error(404, f"Unknown path {self.path}", "not_found_error")

    do_PUT = do_DELETE = do_PATCH

    def _completion(self, body: dict[str, Any], reply: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.script.model,
            "system_fingerprint": None,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": _usage(body, reply),
        }

    def _stream(self, body: dict[str, Any], reply: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in self._events(body, reply):
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _events(self, body: dict[str, Any], reply: str) -> Iterator[str]:
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or self.script.model,
            "system_fingerprint": None,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return json.dumps({**base, "choices": [choice]}, ensure_ascii=False)

        yield chunk({"role": "assistant", "content": ""})
        for piece in split_reply(reply, self.script.pieces):
            yield chunk({"content": piece})
            if self.script.stream_error is not None:
                yield json.dumps({"error": {"message": self.script.stream_error, "type": "server_error", "code": 500}})
                return
        yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield json.dumps({**base, "choices": [], "usage": _usage(body, reply)}, ensure_ascii=False)
        yield "[DONE]"

    def _send_error(self, status: int, message: str, kind: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _usage(body: dict[str, Any], reply: str) -> dict[str, int]:
    # Characters stand in for tokens: clients only need plausible counts.
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    return {"prompt_tokens": prompt, "completion_tokens": len(reply), "total_tokens": prompt + len(reply)}
