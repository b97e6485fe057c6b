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


def test_plain_http_is_only_accepted_for_localhost() -> None:
    assert list_unsubscribe_headers("http://localhost:8080/u/1")["List-Unsubscribe"] == "<http://localhost:8080/u/1>"
    with pytest.raises(ValueError, match="https"):
        list_unsubscribe_headers("http://acme.example/u/1")
    with pytest.raises(ValueError, match="https"):
        list_unsubscribe_headers("javascript:alert(1)")


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
