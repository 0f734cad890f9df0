"""The LLM adapter against a real OpenAI-compatible server on 127.0.0.1, through the real ChatOpenAI."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from llm_server import ScriptedLLM, closed_port

from assistant.llm import LLMUnavailable, build_chat_model, complete, llm_configured
from assistant.settings import Settings
from ingest.errors import XunshiError

SYSTEM = "你是巡视工作助手，只根据编号材料回答，并用[n]标注出处。"
USER = "问题：巡视组发现了多少问题？\n[1] 本轮巡视共发现问题12个，整改率达到95%。"
REPLY = "本轮巡视共发现问题12个[1]，整改率达到95%[1]。"


def llm_settings(home: Path, base_url: str | None, timeout: float = 5.0) -> Settings:
    """Settings pointing at ``base_url``, pinned against stray XUNSHI_LLM_* variables."""
    return Settings(home=home, llm_base_url=base_url, llm_model="test-model", llm_api_key=None,
                    llm_timeout=timeout, llm_temperature=0.1)


def test_reply_streams_in_pieces_and_returns_whole(tmp_path):
    pieces: list[str] = []
    with ScriptedLLM([REPLY], pieces=5) as llm:
        text = complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER, on_token=pieces.append)
    assert text == REPLY
    assert len(pieces) > 1 and all(pieces)
    assert "".join(pieces) == REPLY


def test_server_receives_system_and_user_messages_streamed(tmp_path):
    with ScriptedLLM([REPLY]) as llm:
        complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER)
    [request] = llm.requests
    assert request["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    assert request["stream"] is True
    assert request["model"] == "test-model"
    assert request["temperature"] == 0.1


def test_replies_are_served_in_order_and_the_last_repeats(tmp_path):
    with ScriptedLLM(["第一个回答[1]。", "第二个回答[1]。"]) as llm:
        model = build_chat_model(llm_settings(tmp_path, llm.base_url))
        assert [complete(model, SYSTEM, USER) for _ in range(3)] == ["第一个回答[1]。", "第二个回答[1]。", "第二个回答[1]。"]


def test_server_error_status_is_llm_unavailable(tmp_path):
    with ScriptedLLM([REPLY], status=500) as llm:
        with pytest.raises(LLMUnavailable) as caught:
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER)
    message = str(caught.value)
    assert llm.base_url in message and "HTTP 500" in message
    assert "answering from the documents only" in message
    assert "\n" not in message
    assert isinstance(caught.value, XunshiError)


def test_wrong_model_or_path_says_what_to_check(tmp_path):
    with ScriptedLLM([REPLY], status=404) as llm:
        with pytest.raises(LLMUnavailable, match="XUNSHI_LLM_MODEL"):
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER)


def test_closed_port_is_llm_unavailable_quickly(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        complete(build_chat_model(llm_settings(tmp_path, url, timeout=5)), SYSTEM, USER)
    assert time.monotonic() - started < 3
    assert str(caught.value).startswith(f"LLM at {url} is unreachable (connection refused)")


def test_slow_server_times_out(tmp_path):
    tokens: list[str] = []
    with ScriptedLLM([REPLY], delay=5) as llm:
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match=r"did not answer within 0\.5 s"):
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url, timeout=0.5)), SYSTEM, USER, tokens.append)
        assert time.monotonic() - started < 3  # one attempt, no retries
    assert tokens == []
    assert len(llm.requests) == 1


def test_error_in_the_middle_of_the_stream_is_llm_unavailable(tmp_path):
    tokens: list[str] = []
    with ScriptedLLM([REPLY], stream_error="CUDA out of memory") as llm:
        with pytest.raises(LLMUnavailable, match="CUDA out of memory"):
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER, tokens.append)
    assert tokens and REPLY.startswith("".join(tokens)) and "".join(tokens) != REPLY


def test_empty_reply_is_llm_unavailable(tmp_path):
    with ScriptedLLM(["  \n"]) as llm:
        with pytest.raises(LLMUnavailable, match="empty reply"):
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER)


def test_a_failing_on_token_is_not_reported_as_the_llm(tmp_path):
    class Stop(Exception):
        pass

    def stop(piece: str) -> None:
        raise Stop(piece)

    with ScriptedLLM([REPLY]) as llm:
        with pytest.raises(Stop):
            complete(build_chat_model(llm_settings(tmp_path, llm.base_url)), SYSTEM, USER, stop)


@pytest.mark.parametrize("base_url", [None, "", "  "])
def test_unconfigured_builds_no_model(tmp_path, base_url):
    settings = llm_settings(tmp_path, base_url)
    assert not llm_configured(settings)
    assert build_chat_model(settings) is None


def test_configured_model_has_no_retries_and_the_timeout(tmp_path):
    settings = llm_settings(tmp_path, "http://127.0.0.1:1/v1", timeout=7)
    model = build_chat_model(settings)
    assert llm_configured(settings)
    assert (model.openai_api_base, model.model_name, model.max_retries, model.request_timeout) == (
        "http://127.0.0.1:1/v1", "test-model", 0, 7)
    assert model.streaming is True


def test_scripted_server_speaks_the_openai_api():
    # The helper other tests rely on: non-streamed completions and the model list, as real clients see them.
    with ScriptedLLM([REPLY]) as llm:
        chat = ChatOpenAI(base_url=llm.base_url, model="test-model", api_key="k", max_retries=0, timeout=5)
        assert chat.invoke([HumanMessage(USER)]).content == REPLY
        client = openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0, timeout=5)
        assert [m.id for m in client.models.list()] == ["test-model"]
    assert llm.requests[0]["stream"] is False


@pytest.fixture
def langsmith_tracing_on(monkeypatch):
    """LangSmith tracing switched on by the environment, sending to a recorder on 127.0.0.1."""
    from langsmith import utils as ls_utils

    with ScriptedLLM() as recorder:
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.origin)
        monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2_test")
        ls_utils.get_env_var.cache_clear()  # langsmith caches what it read from the environment
        yield recorder
        monkeypatch.undo()
        ls_utils.get_env_var.cache_clear()


def test_nothing_is_traced_even_when_the_environment_turns_langsmith_on(tmp_path, langsmith_tracing_on):
    from langchain_core.tracers.langchain import wait_for_all_tracers

    with ScriptedLLM([REPLY]) as llm:
        model = build_chat_model(llm_settings(tmp_path, llm.base_url))
        complete(model, SYSTEM, USER)
        wait_for_all_tracers()
        assert langsmith_tracing_on.paths == []
        list(model.stream([HumanMessage(USER)]))  # the same model outside complete() does phone home
        wait_for_all_tracers()
    assert any("/runs" in path for path in langsmith_tracing_on.paths)
