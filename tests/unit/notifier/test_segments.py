"""SMS segment counting: GSM-7 basic and extension tables, UCS-2, boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.rendering.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    count_segments,
    gsm7_friendly,
    is_gsm7,
)

pytestmark = pytest.mark.unit


def test_empty_text_has_no_segments() -> None:
    info = count_segments("")
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 0, 0)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    info = count_segments("a" * length)
    assert info.encoding == "GSM-7"
    assert info.units == length
    assert info.segments == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    info = count_segments("á" * length)
    assert info.encoding == "UCS-2"
    assert info.units == length
    assert info.segments == segments


@pytest.mark.parametrize("char", sorted(GSM7_EXTENSION))
def test_extension_characters_count_two_septets(char: str) -> None:
    info = count_segments("a" + char)
    assert info.encoding == "GSM-7"
    assert info.units == 3


def test_extension_table_is_exactly_the_gsm_0338_set() -> None:
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION


def test_eighty_euro_signs_fill_one_segment_and_one_more_spills() -> None:
    assert count_segments("€" * 80).segments == 1
    info = count_segments("€" * 81)
    assert (info.units, info.segments) == (162, 2)


def test_an_escape_pair_is_not_split_across_segments() -> None:
    # 152 + 2 + 152 = 306 septets would fit 2 x 153, but the euro sign cannot straddle.
    info = count_segments("a" * 152 + "€" + "a" * 152)
    assert info.units == 306
    assert info.segments == 3


def test_basic_table_has_128_minus_escape_characters() -> None:
    assert len(GSM7_BASIC) == 127
    for char in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r":
        assert char in GSM7_BASIC


@pytest.mark.parametrize("text", ["ñ", "Müller", "Straße", "señor", "café", "¿Dudas?", "¡Gracias!", "Ça"])
def test_german_and_spanish_letters_in_the_basic_set_stay_gsm7(text: str) -> None:
    assert count_segments(text).encoding == "GSM-7"


@pytest.mark.parametrize("char", ["á", "í", "ó", "ú", "ç", "`", "ê", "\u00a0", "’"])
def test_characters_outside_gsm7_force_ucs2(char: str) -> None:
    info = count_segments("abc" + char)
    assert info.encoding == "UCS-2"
    assert info.units == 4


def test_emoji_outside_the_bmp_count_two_units() -> None:
    assert count_segments("😀").units == 2
    assert count_segments("😀" * 35).segments == 1
    info = count_segments("😀" * 36)
    assert (info.units, info.segments) == (72, 2)


def test_a_surrogate_pair_is_not_split_across_segments() -> None:
    # 66 + 2 + 66 = 134 units would fit 2 x 67, but the emoji cannot straddle.
    info = count_segments("á" * 66 + "😀" + "á" * 66)
    assert info.units == 134
    assert info.segments == 3


def test_gsm7_friendly_swaps_typographic_characters() -> None:
    text = gsm7_friendly("12,50\u00a0€ – it’s “fine”…")
    assert text == '12,50 € - it\'s "fine"...'
    assert is_gsm7(text)


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.text(max_size=400))
def test_segments_never_undercount(text: str) -> None:
    info = count_segments(text)
    single, part = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if info.units <= single:
        assert info.segments == (1 if text else 0)
    else:
        assert info.segments >= -(-info.units // part)
        assert info.segments <= -(-info.units // (part - 1))
