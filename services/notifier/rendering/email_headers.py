"""Email headers for one-click unsubscribe (RFC 2369 and RFC 8058)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["list_unsubscribe_headers"]

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_FORBIDDEN = set("<>,\"\\") | {chr(c) for c in range(0x21)} | {"\x7f"}


def _clean(value: str, what: str) -> str:
    value = value.strip()
    if not value or any(ch in _FORBIDDEN for ch in value):
        raise ValueError(f"{what} contains characters not allowed in a header")
    return value


def list_unsubscribe_headers(unsubscribe_url: str, mailto: str | None = None) -> dict[str, str]:
    """`List-Unsubscribe` (URL, plus mailto if given) and one-click `List-Unsubscribe-Post`.

    One-click needs an https URL (plain http is accepted for localhost during development);
    values that could break out of the header (CR/LF, `<`, `>`, `,`) are refused.
    """
    url = _clean(unsubscribe_url, "unsubscribe URL")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS)
    if not secure or not parts.netloc:
        raise ValueError("one-click unsubscribe needs an https URL")
    targets = []
    if mailto:
        address = _clean(mailto, "unsubscribe mailto")
        if not address.lower().startswith("mailto:"):
            address = f"mailto:{address}"
        if "@" not in address:
            raise ValueError("unsubscribe mailto needs an address")
        targets.append(f"<{address}>")
    targets.append(f"<{url}>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
