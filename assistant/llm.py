"""The OpenAI-compatible chat model: built from settings, streamed, every failure one ``LLMUnavailable``.

Nothing here phones home. The OpenAI SDK and LangChain send no telemetry; LangSmith tracing would
only start if ``LANGSMITH_TRACING``/``LANGCHAIN_TRACING_V2`` were ``true`` in the environment, and
``complete`` switches it off for its own calls regardless. The only host contacted is
``XUNSHI_LLM_BASE_URL``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any

from assistant.settings import Settings
from ingest.errors import XunshiError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

log = logging.getLogger(__name__)

# What to check when the endpoint refuses us with one of these statuses.
_STATUS_HINTS = {
    401: "check XUNSHI_LLM_API_KEY",
    403: "check XUNSHI_LLM_API_KEY",
    404: "check XUNSHI_LLM_BASE_URL (usually ends in /v1) and XUNSHI_LLM_MODEL",
}


class LLMUnavailable(XunshiError):
    """The LLM endpoint could not be reached, answered with an error, timed out or said nothing."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"LLM at {endpoint} {reason}; answering from the documents only")
        self.endpoint = endpoint
        self.reason = reason


def llm_configured(settings: Settings) -> bool:
    """Whether an LLM endpoint is configured (XUNSHI_LLM_BASE_URL is set)."""
    return bool(settings.llm_base_url and settings.llm_base_url.strip())


def build_chat_model(settings: Settings) -> BaseChatModel | None:
    """The configured chat model, or None when no LLM endpoint is configured."""
    if not llm_configured(settings):
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_base_url.strip(),
        model=settings.llm_model or "default",
        api_key=settings.llm_api_key or "not-needed",  # local servers ignore it; the SDK insists on one
        temperature=settings.llm_temperature,
        timeout=settings.llm_timeout,
        max_retries=0,  # the SDK retries twice by default: three timeouts before the user hears anything
        streaming=True,
        use_responses_api=False,  # local servers speak chat completions only
    )


def complete(chat_model: BaseChatModel, system: str, user: str,
             on_token: Callable[[str], None] | None = None) -> str:
    """Stream one reply to ``system`` + ``user``, passing each piece to ``on_token``; return the whole text.

    Raises:
        LLMUnavailable: The endpoint is unreachable, timed out, answered with an error status or a
            malformed stream, or sent an empty reply.
    """
    from langchain_core.messages import HumanMessage, SystemMessage
    from langsmith import tracing_context

    endpoint = _endpoint(chat_model)
    pieces: list[str] = []
    stream = _pieces(chat_model, [SystemMessage(system), HumanMessage(user)], endpoint)
    # closing(): if on_token raises (the user stopped the answer), the HTTP stream is closed now, not at GC.
    with tracing_context(enabled=False), closing(stream):
        for piece in stream:
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
    text = "".join(pieces)
    if not text.strip():
        raise LLMUnavailable(endpoint, "sent an empty reply")
    return text


def _pieces(chat_model: BaseChatModel, messages: list[BaseMessage], endpoint: str) -> Iterator[str]:
    # Errors are translated here, around the library only: an exception from the caller's on_token
    # is raised in complete(), outside this generator, and is not mistaken for an LLM failure.
    import openai

    try:
        for chunk in chat_model.stream(messages):
            piece = str(chunk.text)  # the text blocks only, whether content is a string or a list
            if piece:
                yield piece
    except openai.APITimeoutError as e:
        raise LLMUnavailable(endpoint, f"did not answer within {_timeout(chat_model)}") from e
    except openai.APIConnectionError as e:
        raise LLMUnavailable(endpoint, f"is unreachable ({_root_reason(e)})") from e
    except openai.APIStatusError as e:
        raise LLMUnavailable(endpoint, _status_reason(e)) from e
    except openai.OpenAIError as e:  # e.g. an error event in the middle of the stream
        raise LLMUnavailable(endpoint, f"failed: {_one_line(str(e))}") from e
    except _http_errors() as e:  # older SDKs let transport errors out of a stream unwrapped
        raise LLMUnavailable(endpoint, f"is unreachable ({_root_reason(e)})") from e
    except (ValueError, KeyError, TypeError) as e:  # a body that is not a chat completion (bad JSON, no choices)
        reason = f"sent a reply that is not an OpenAI chat completion ({_one_line(str(e))})"
        raise LLMUnavailable(endpoint, reason) from e


def _http_errors() -> tuple[type[Exception], ...]:
    # Evaluated only when something was raised. openai>=3 is built on httpx2, older versions on httpx;
    # only a library that is loaded can have raised.
    modules = (sys.modules.get("httpx2"), sys.modules.get("httpx"))
    return tuple(m.HTTPError for m in modules if m is not None and hasattr(m, "HTTPError"))


def _endpoint(chat_model: Any) -> str:
    return str(getattr(chat_model, "openai_api_base", None) or "the configured endpoint")


def _timeout(chat_model: Any) -> str:
    seconds = getattr(chat_model, "request_timeout", None)
    return f"{seconds:g} s (XUNSHI_LLM_TIMEOUT)" if isinstance(seconds, int | float) else "the timeout"


def _status_reason(e: Any) -> str:
    body = e.body if isinstance(e.body, dict) else {}
    if isinstance(body.get("error"), dict):
        body = body["error"]
    detail = body.get("message")
    reason = f"answered HTTP {e.status_code}"
    if detail:
        reason += f" ({_one_line(str(detail))})"
    hint = _STATUS_HINTS.get(e.status_code)
    return f"{reason}; {hint}" if hint else reason


def _root_reason(e: BaseException) -> str:
    """The innermost cause in plain words, e.g. 'connection refused' rather than 'Connection error.'."""
    seen: list[BaseException] = []
    while e is not None and e not in seen:
        seen.append(e)
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, TimeoutError):
            return "timed out"
        e = e.__cause__ or e.__context__
    return _one_line(str(seen[-1])) or type(seen[-1]).__name__


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
