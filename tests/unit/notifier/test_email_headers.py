"""List-Unsubscribe headers for one-click unsubscribe."""

from __future__ import annotations

import pytest

from services.notifier.rendering import list_unsubscribe_headers

pytestmark = pytest.mark.unit


def test_one_click_headers() -> None:
    headers = list_unsubscribe_headers("https://acme.example/u/abc123")
    assert headers == {
        "List-Unsubscribe": "<https://acme.example/u/abc123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_mailto_comes_first_and_gets_its_scheme() -> None:
    headers = list_unsubscribe_headers("https://acme.example/u/1", "unsubscribe@acme.example")
    assert headers["List-Unsubscribe"] == "<mailto:unsubscribe@acme.example>, <https://acme.example/u/1>"
    already = list_unsubscribe_headers("https://acme.example/u/1", "mailto:u@acme.example?subject=stop")
    assert already["List-Unsubscribe"].startswith("<mailto:u@acme.example?subject=stop>")


def test_one_click_only_for_https_and_local_development() -> None:
    local = list_unsubscribe_headers("http://localhost:8080/u/1")
    assert local["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe-Post" in list_unsubscribe_headers("http://127.0.0.1:8080/u/1")
    insecure = list_unsubscribe_headers("http://acme.example/u/1")
    assert insecure == {"List-Unsubscribe": "<http://acme.example/u/1>"}


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://acme.example/u", "https://", "mailto:u@acme.example"])
def test_non_web_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        list_unsubscribe_headers(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.example/u/1\r\nBcc: x@example.com",
        "https://acme.example/u/1>, <https://evil.example",
        "https://acme.example/u/a,b",
        "https://acme.example/u/a b",
        "",
    ],
)
def test_header_injection_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        list_unsubscribe_headers(url)


def test_mailto_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        list_unsubscribe_headers("https://acme.example/u/1", "u@acme.example\r\nBcc: x@example.com")
    with pytest.raises(ValueError):
        list_unsubscribe_headers("https://acme.example/u/1", "not-an-address")
