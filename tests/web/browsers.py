"""The browser side of the page tests: Debian's Chromium through Playwright, one context per user."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

SHOTS = Path(__file__).parents[1] / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
    "--disable-client-side-phishing-detection", "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def login(page, user: str, password: str) -> None:
    """Fill in Gradio's login form and send it."""
    page.locator("input[type=password]").wait_for(timeout=60_000)
    page.locator("input").first.fill(user)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="登录").click()


class Page:
    """A browser context of its own (its own cookies) on the app, recording every request it makes;
    ``signed_in`` fills in the login form first where the page asks for one."""

    def __init__(self, browser, url: str, signed_in: Callable[[object], None] | None = None) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        if signed_in is not None:
            signed_in(self.page)
        self.page.wait_for_selector("#question textarea", timeout=60_000)

    def ask(self, text: str, done: str = "来源|未找到") -> str:
        before = self.page.locator("#chat .message").count()
        self.page.fill("#question textarea", text)
        self.page.click("#send")
        self.page.wait_for_function(
            """([before, pattern]) => {
                const msgs = document.querySelectorAll('#chat .message');
                return msgs.length >= before + 2 && new RegExp(pattern).test(msgs[msgs.length - 1].innerText);
            }""", arg=[before, done], timeout=90_000)
        return self.page.locator("#chat .message").last.inner_text()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def assert_offline(self) -> None:
        own = urlparse(self.url).netloc
        others = [u for u in self.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                  and urlparse(u).netloc != own]
        assert self.requests and not others, others

    def close(self) -> None:
        self.context.close()
