"""Email headers for one-click unsubscribe (RFC 2369 and RFC 8058)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["list_unsubscribe_headers"]

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_FORBIDDEN = set('<>,"\\') | {chr(c) for c in range(0x21)} | {"\x7f"}


def _clean(value: str, what: str) -> str:
    value = value.strip()
    if not value or any(ch in _FORBIDDEN for ch in value):
        raise ValueError(f"{what} contains characters not allowed in a header")
    return value


def list_unsubscribe_headers(unsubscribe_url: str, mailto: str | None = None) -> dict[str, str]:
    """`List-Unsubscribe` (mailto first if given, then the URL) and one-click `List-Unsubscribe-Post`.

    One-click (RFC 8058) needs an https URL, so `List-Unsubscribe-Post` is added for https
    URLs and, for development, plain http on localhost; any other http URL still gets
    `List-Unsubscribe` alone rather than failing the send. A value that is not a web URL, or
    that could break out of the header (CR/LF, `<`, `>`, `,`, spaces), raises ValueError.
    """
    url = _clean(unsubscribe_url, "unsubscribe URL")
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        raise ValueError("the unsubscribe URL must be an http(s) URL")
    one_click = parts.scheme == "https" or parts.hostname in _LOCAL_HOSTS
    targets = []
    if mailto:
        address = _clean(mailto, "unsubscribe mailto")
        if not address.lower().startswith("mailto:"):
            address = f"mailto:{address}"
        if "@" not in address:
            raise ValueError("unsubscribe mailto needs an address")
        targets.append(f"<{address}>")
    targets.append(f"<{url}>")
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if one_click:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers
