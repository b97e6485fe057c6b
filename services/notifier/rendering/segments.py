"""SMS segment counting over the GSM 03.38 alphabet (GSM-7) and UCS-2."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SegmentInfo",
    "count_segments",
    "gsm7_friendly",
    "is_gsm7",
    "sms_lookalikes",
]

# GSM 03.38 default alphabet, code points 0x00-0x7F (0x1B is the escape to the extension
# table and is not a character of its own). 0x09 is the capital C with cedilla: the
# lowercase "ç" is not in the table and forces UCS-2.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # the escape is listed only to keep the table positions readable
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
) - {"\x1b"}

# Default extension table: each character costs the escape plus itself, two septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

_GSM7_SINGLE = 160
_GSM7_PART = 153  # 7 septets go to the concatenation header
_UCS2_SINGLE = 70
_UCS2_PART = 67

Encoding = Literal["GSM-7", "UCS-2"]

# Typographic characters that have a plain GSM-7 equivalent (what a careful sender swaps
# before sending, so one curly apostrophe does not halve the room in a message).
_GSM7_LOOKALIKES = str.maketrans(
    {
        "\u00a0": " ",  # no-break space (babel puts it between amount and currency)
        "\u202f": " ",  # narrow no-break space
        "\u2009": " ",  # thin space
        "\u2007": " ",  # figure space
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00ab": '"',
        "\u00bb": '"',
    }
)


# Letters outside GSM-7 whose look-alike is not their base letter (NFKD does not take them apart).
_LETTER_LOOKALIKES = {
    "ç": "c", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
    "œ": "oe", "Œ": "OE", "ı": "i", "ŀ": "l", "Ŀ": "L", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T",
    "ĸ": "k", "ŋ": "n", "Ŋ": "N", "ſ": "s", "ẞ": "SS",
}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How an SMS body travels: its encoding, its length in units and its segment count.

    `units` is septets for GSM-7 (extension characters count two) and UTF-16 code units
    for UCS-2 (characters outside the Basic Multilingual Plane count two).
    """

    encoding: Encoding
    units: int
    segments: int

    @property
    def fits_one(self) -> bool:
        """True when the text travels as a single segment."""
        return self.segments <= 1


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 basic or extension table."""
    return _GSM7.issuperset(text)


def gsm7_friendly(text: str) -> str:
    """Swap typographic spaces, quotes, dashes and ellipses for their GSM-7 equivalents."""
    return text.translate(_GSM7_LOOKALIKES)


@cache
def _lookalike(ch: str) -> str:
    """The GSM-7 stand-in for one character, or the character itself when it has none."""
    if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
        return ch
    if ch in _LETTER_LOOKALIKES:
        return _LETTER_LOOKALIKES[ch]
    typographic = ch.translate(_GSM7_LOOKALIKES)
    if typographic != ch:
        return typographic
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else ch


def sms_lookalikes(text: str) -> str:
    """Carrier-style "smart encoding": swap characters outside GSM-7 for their GSM-7 look-alike.

    "María" becomes "Maria" and "Zoë" "Zoe" ("á" and "ë" are not in GSM-7), while the accented
    letters GSM-7 does carry (é, ñ, ü, ö, ä, à, è, ì, ò, Ç, Ø, Å, Æ, ß ...) stay as they are;
    curly quotes, dashes and typographic spaces become their plain forms. Characters without a
    look-alike (Greek lower case, Cyrillic, CJK, Arabic, emoji) are kept: the text is UCS-2 then.
    For SMS only; email keeps every character.
    """
    if _GSM7.issuperset(text):
        return text
    return "".join(_lookalike(ch) for ch in text)


def count_segments(text: str) -> SegmentInfo:
    """Count the segments an SMS body needs, the way a carrier splits it.

    A character that takes two units (a GSM-7 escape pair, a UTF-16 surrogate pair) is never
    split across two segments, so a multipart segment can hold one unit less than 153/67.
    """
    if is_gsm7(text):
        escaped = sum(text.count(ch) for ch in GSM7_EXTENSION)
        if len(text) + escaped <= _GSM7_SINGLE:  # one segment: no part boundary to place
            return SegmentInfo("GSM-7", len(text) + escaped, 1 if text else 0)
        if not escaped:  # every character one unit: full parts
            return SegmentInfo("GSM-7", len(text), -(-len(text) // _GSM7_PART))
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return _pack("GSM-7", costs, _GSM7_SINGLE, _GSM7_PART)
    if text.isascii() or max(text) <= "\uffff":  # no surrogate pair: every character one unit
        units = len(text)
        return SegmentInfo("UCS-2", units, 1 if units <= _UCS2_SINGLE else -(-units // _UCS2_PART))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return _pack("UCS-2", costs, _UCS2_SINGLE, _UCS2_PART)


def _pack(encoding: Encoding, costs: list[int], single: int, part: int) -> SegmentInfo:
    units = sum(costs)
    if units == 0:
        return SegmentInfo(encoding, 0, 0)
    if units <= single:
        return SegmentInfo(encoding, units, 1)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return SegmentInfo(encoding, units, segments)
