"""PII masking for logs, dead-letter headers, error messages and the dashboard, however the text was encoded.

`mask_pii` looks for contacts in the text as written and in its decoded readings: percent and form
encoding (`%2B14155550100`, `+` for a space, twice encoded), JSON and JavaScript escapes (`\\u002B`,
`\\n`), HTML character references (`&#43;`), quoted-printable (`=2B`) and the full-width or ideographic
`＠`, `＋` and `。`. What a reading finds is masked where it stands in the original text, so the rest
of the text is left as it was: `From=%2B14155550100` becomes `From=%2B*******0100`.

- Email addresses in any script (Unicode local parts, internationalised domains): the local part
  keeps its first character (`j***@example.es`), the domain stays.
- Phone numbers in any common notation (E.164, spaces, dashes, dots, slashes, parentheses, national
  formats, `00` prefixes, with or without `+`, digits of any script): every digit but the last four
  (the last two of a number shorter than ten digits) becomes `*`; separators stay.
- `key=secret` pairs: the secret becomes `***`.

Left alone, though made of digits: dates (`2026-11-22`, `22.11.2026`), IPv4 addresses, amounts
with decimals (`1234567.89`), UUIDs, `topic[3]@1234567` positions, bare runs of more than 15 digits
(no phone number is that long; a Shopify id can be), a bare run of digits named by the word before
it (`offset 12345678`, `order 450789469`, `"id": 5678901234567`), and digits glued to ASCII letters
or following a `/` (`SM1234567890`, `ord-12345678`, `gid://shopify/Order/5678901234567`). Any other
run of eight or more digits, or seven with a `+` or separators, is taken for a phone number. Base64 is not
decoded: it cannot be told from an id or a signature without guessing, and no output here shows it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

__all__ = ["mask_email", "mask_phone", "mask_pii"]

_MASK = "***"
_MAX_DECODE_ROUNDS = 4
"""Text encoded this many times over (a form body inside JSON inside a URL) is still read."""
_SEPARATORS = " \t\u00a0\u2009\u202f\\-\u2010\u2011\u2012\u2013./()"
_CONFUSABLES = {
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},  # full-width ＋ ＠ － ． ...
    "\ufe6b": "@", "\ufe62": "+", "\ufe63": "-", "\u3002": ".", "\uff61": ".",  # small forms, ideographic stops
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",  # invisible: zero-width space, joiner, BOM, soft hyphen
}
_NAMED_REFERENCES = {"plus": "+", "commat": "@", "period": ".", "hyphen": "-", "lpar": "(", "rpar": ")",
                     "amp": "&", "nbsp": "\u00a0", "quot": '"', "apos": "'", "lt": "<", "gt": ">", "colon": ":",
                     "sol": "/", "num": "#", "equals": "="}
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": " ", "f": " ", "/": "/", '"': '"', "'": "'", "\\": "\\"}

_DIGIT = re.compile(r"\d")
_SECRET = re.compile(r"(?i)\b(?:auth[_-]?token|api[_-]?key|password|secret|token)\s*[=:]\s*(?P<secret>\S+)")


def mask_email(email: str) -> str:
    """`ada.lovelace@example.com` -> `a***@example.com`; a one-character local part keeps nothing."""
    local, at, domain = email.rpartition("@")
    if not at:
        return _MASK
    return f"{local[:1] if len(local) > 1 else ''}{_MASK}@{domain}"


def mask_phone(phone: str) -> str:
    """`+14155550123` -> `+*******0123` (keeps the last four digits; two of a number under ten digits)."""
    digits = [c for c in phone if c.isdecimal()]
    if len(digits) < 7:
        return phone
    kept = _kept_digits(len(digits))
    return ("+" if phone.strip().startswith(("+", "\uff0b")) else "") + "*" * (len(digits) - kept) + "".join(
        digits[len(digits) - kept:])


def mask_pii(text: str) -> str:
    """Mask every email address, phone number and `key=secret` pair found in free text, encoded or not."""
    spans: list[tuple[int, int, str]] = []
    for view in _readings(text):
        spans.extend(_found(view))
    return _rewrite(text, spans) if spans else text


# -- readings of the text: decoded text, each character tied to the original characters it came from --

@dataclass(frozen=True)
class _View:
    """A reading of the text; `starts`/`ends` tie each character to the original ones (None: the same)."""

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """Where the view's characters [start, end) came from in the original text."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def _readings(text: str) -> Iterator[_View]:
    raw = _View(text)
    yield raw
    seen = {text}
    if _ENCODED.search(text) is not None:
        decoded = _decoded(raw, "plain")
        if decoded.text not in seen:
            seen.add(decoded.text)
            yield decoded
    if "+" in text and ("=" in text or "%" in text):
        form = _decoded(raw, "form")
        if form.text not in seen:
            seen.add(form.text)
            yield form
    if _QUOTED_PRINTABLE.search(text) is not None:
        quoted = _decoded(raw, "quoted-printable")
        if quoted.text not in seen:
            yield quoted


_CONFUSABLE_CLASS = "[" + "".join(_CONFUSABLES) + "]"
_ESCAPES = (
    r"(?P<bytes>(?:%[0-9A-Fa-f]{2})+)"
    r"|%u(?P<pct_u>[0-9A-Fa-f]{4})"
    r"|\\u(?P<high>[dD][89abAB][0-9A-Fa-f]{2})\\u(?P<low>[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|\\u\{(?P<braced>[0-9A-Fa-f]{1,6})\}|\\u(?P<u4>[0-9A-Fa-f]{4})|\\U(?P<u8>[0-9A-Fa-f]{8})"
    r"|\\x(?P<x2>[0-9A-Fa-f]{2})|\\(?P<control>[nrtbf/\"'\\])"
    r"|&#(?P<decimal>[0-9]{1,7});?|&#[xX](?P<hex>[0-9A-Fa-f]{1,6});?|&(?P<named>[a-z]+);"
    rf"|(?P<confusable>{_CONFUSABLE_CLASS})"
)
_ENCODED = re.compile(_ESCAPES)
_TOKENS = {
    "plain": _ENCODED,
    "form": re.compile(_ESCAPES + r"|(?P<plus>\+)"),
    "quoted-printable": re.compile(
        rf"(?P<qp_bytes>(?:=[0-9A-F]{{2}})+)|(?P<soft_break>=\r?\n)|(?P<confusable>{_CONFUSABLE_CLASS})"),
}
_QUOTED_PRINTABLE = re.compile(r"=[0-9A-F]{2}|=\r?\n")


def _decoded(view: _View, first: str) -> _View:
    """The view decoded until nothing changes (at most `_MAX_DECODE_ROUNDS` times). The first round
    reads `first`: plain escapes, a form (`+` is a space) or quoted-printable (`=XX`); later ones plain."""
    for round_ in range(_MAX_DECODE_ROUNDS):
        step = _decode_once(view, _TOKENS[first if round_ == 0 else "plain"])
        if step.text == view.text:
            break
        view = step
    return view


def _decode_once(view: _View, tokens: re.Pattern[str]) -> _View:
    text = view.text
    parent_starts: Sequence[int] = view.starts if view.starts is not None else range(len(text))
    parent_ends: Sequence[int] = view.ends if view.ends is not None else range(1, len(text) + 1)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(decoded: str, start: int, end: int) -> None:
        origin = view.origin(start, end)
        out.append(decoded)
        starts.extend([origin[0]] * len(decoded))
        ends.extend([origin[1]] * len(decoded))

    position = 0
    for match in tokens.finditer(text):
        out.append(text[position:match.start()])
        starts.extend(parent_starts[position:match.start()])
        ends.extend(parent_ends[position:match.start()])
        _emit_token(match, emit)
        position = match.end()
    out.append(text[position:])
    starts.extend(parent_starts[position:])
    ends.extend(parent_ends[position:])
    return _View("".join(out), tuple(starts), tuple(ends))


def _emit_token(match: re.Match[str], emit: Callable[[str, int, int], None]) -> None:
    groups = match.groupdict()
    start, end = match.span()
    if groups.get("bytes") or groups.get("qp_bytes"):
        _emit_utf8(match.group(0), start, emit)
    elif groups.get("soft_break"):
        return
    elif groups.get("plus"):
        emit(" ", start, end)
    elif groups.get("confusable"):
        emit(_CONFUSABLES[groups["confusable"]], start, end)
    elif groups.get("high"):
        pair = chr(int(groups["high"], 16)) + chr(int(groups["low"], 16))
        emit(pair.encode("utf-16", "surrogatepass").decode("utf-16"), start, end)
    elif groups.get("control"):
        emit(_CONTROL_ESCAPES[groups["control"]], start, end)
    elif groups.get("named"):
        emit(_NAMED_REFERENCES.get(groups["named"], match.group(0)), start, end)
    else:
        number = next(groups[name] for name in ("pct_u", "braced", "u4", "u8", "x2", "decimal", "hex")
                      if groups.get(name))
        code = int(number, 10 if groups.get("decimal") else 16)
        emit(chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0), start, end)


def _emit_utf8(escapes: str, offset: int, emit: Callable[[str, int, int], None]) -> None:
    """`%C3%A9` (or `=C3=A9`) as UTF-8; a byte that is no part of a UTF-8 character reads as Latin-1."""
    data = bytes(int(escapes[i + 1:i + 3], 16) for i in range(0, len(escapes), 3))
    index = 0
    while index < len(data):
        lead = data[index]
        size = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 \
            if lead >> 3 == 0b11110 else 1
        try:
            char = data[index:index + size].decode("utf-8")
        except UnicodeDecodeError:
            char, size = chr(lead), 1
        emit(char, offset + 3 * index, offset + 3 * (index + size))
        index += size


# -- what a reading holds: spans of the original text to hide -----------------------------------------

def _found(view: _View) -> Iterator[tuple[int, int, str]]:
    text = view.text
    for match in _SECRET.finditer(text):
        yield (*view.origin(*match.span("secret")), _MASK)
    patterns = _patterns()
    if "@" in text:
        for match in patterns.email.finditer(text):
            local_start, local_end = match.span("local")
            hidden_from = local_start + 1 if local_end - local_start > 1 else local_start
            yield (*view.origin(hidden_from, local_end), _MASK)
    if _DIGIT.search(text) is not None:
        for match in patterns.phone.finditer(text):
            if match.group("phone") is not None:
                yield from _hidden_digits(view, match)


def _hidden_digits(view: _View, match: re.Match[str]) -> Iterator[tuple[int, int, str]]:
    candidate = match.group("phone")
    digits = [match.start("phone") + i for i, char in enumerate(candidate) if char.isdecimal()]
    written_as_phone = len(digits) != len(candidate)  # a `+`, separators or parentheses
    if len(digits) < (7 if written_as_phone else 8):
        return
    if not written_as_phone and len(digits) > (18 if unicodedata.digit(candidate[0]) == 0 else 15):
        return  # longer than any phone number, even after a 00 or 011 prefix: an id
    for index in digits[: len(digits) - _kept_digits(len(digits))]:
        yield (*view.origin(index, index + 1), "*")


def _kept_digits(count: int) -> int:
    return 4 if count >= 10 else 2


def _rewrite(text: str, spans: list[tuple[int, int, str]]) -> str:
    """The text with each span replaced; overlapping spans become one (`***` if any of them was)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, replacement in sorted(spans):
        if merged and start < merged[-1][1]:
            last_start, last_end, last_replacement = merged[-1]
            merged[-1] = (last_start, max(last_end, end), _MASK if _MASK in (replacement, last_replacement) else "*")
        else:
            merged.append((start, end, replacement))
    parts: list[str] = []
    position = 0
    for start, end, replacement in merged:
        parts.append(text[position:start])
        parts.append(replacement)
        position = end
    parts.append(text[position:])
    return "".join(parts)


# -- the patterns -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Patterns:
    email: re.Pattern[str]
    phone: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """Compiled on first use: the class of combining marks is read from the Unicode database."""
    marks = _combining_marks()
    word = rf"\w{marks}\u200c\u200d"  # letters and digits of any script, their marks, ZWNJ/ZWJ
    local_char = rf"[{word}+'\-]"
    label = rf"[{word}](?:[{word}\-]{{0,62}}[{word}])?"
    email = re.compile(
        rf"(?<![{word}+'\-.])(?P<local>{local_char}+(?:\.{local_char}+)*)"
        rf"@(?P<domain>(?:{label}\.)+(?=[{word}\-]*[^\W\d_])[{word}\-]{{2,63}})"
    )
    sep = f"[{_SEPARATORS}]"
    keep = "|".join([
        r"\[[0-9]+\]@[0-9]+",  # topic[partition]@offset
        r"(?i:\b(?:offsets?|partitions?|ids?|orders?(?:[ _-]?(?:ids?|numbers?|no))?)\b)[\"']?\s{0,3}[:=#]?\s{0,3}[\"']?"
        rf"[0-9]+(?![0-9]|{sep}{{1,3}}[0-9])",  # a bare number named by the word before it
        r"(?<!\d)[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"(?<!\d)(?:19|20)[0-9]{2}([-./])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12][0-9]|3[01])(?![0-9])",
        r"(?<!\d)(?:0?[1-9]|[12][0-9]|3[01])([./])(?:0?[1-9]|1[0-2])\2(?:19|20)[0-9]{2}(?![0-9])",
        r"(?<!\d)(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12][0-9]|3[01])/(?:19|20)[0-9]{2}(?![0-9])",
        r"(?<!\d)(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])"
        r"(?![0-9]|\.[0-9])",
        rf"(?<!\d)[0-9]{{1,12}}[.,][0-9]{{1,2}}(?![0-9]|{sep}{{1,3}}[0-9])",  # an amount
    ])
    phone = re.compile(
        rf"(?=[\d+(\[oOpPiI])(?:{keep}"  # each alternative begins with one of these: a cheap test first
        rf"|(?<![A-Za-z_/%])(?<![A-Za-z]-)(?<![0-9A-Fa-f]{{4}}-)(?<!\d)(?P<phone>(?:\+|\(\+?)?\d(?:{sep}{{1,3}}\d|\d)*)"
        r"(?:(?![A-Za-z_]|\d)|(?=(?:x|ext\.?)\s?\d)))"  # an extension may follow: x123, ext.123
    )
    return _Patterns(email, phone)


def _combining_marks() -> str:
    """Every combining mark (categories Mn, Mc, Me) as character-class ranges; `\\w` leaves them out."""
    ranges: list[str] = []
    start: int | None = None
    for code in [*range(0x30000), *range(0xE0100, 0xE01F1)]:
        is_mark = unicodedata.category(chr(code)).startswith("M")
        if is_mark and start is None:
            start = code
        elif not is_mark and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{code - 1:08x}")
            start = None
    return "".join(ranges)
