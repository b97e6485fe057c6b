"""Property: a customer's phone number or email address, in any notation, script and encoding, never leaves
whole through any output: log records (the real logging configuration, plain and JSON lines), dead-letter
headers (as the dead-letter code and the gateway build them), and the dashboard's JSON API and page
(its real aiohttp app, views and panels, over stand-ins for Kafka and the ledger).

"Whole" is checked by an independent reading of each output (percent, form, JSON, HTML and quoted-printable
decoding, NFKC): no phone number's digits beyond its last four appear in one run, no email local part appears.
A digit run or word that the same output already holds with a neutral contact in its place is no leak
(`assume` drops that example): it is the output's own text, not the contact."""

from __future__ import annotations

import asyncio
import html
import io
import json
import logging
import quopri
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.common.deadletter import HEADER_PREFIX, dead_letter_headers
from services.common.logging import configure_logging
from services.common.settings import CommonSettings
from services.dashboard.kafka_reader import KafkaReader
from services.dashboard.ledger_reader import LedgerReader
from services.dashboard.metrics import build_instruments
from services.dashboard.panels import Panels
from services.dashboard.records import PartitionOffsets, Record, TopicPartitionKey
from services.dashboard.settings import DashboardSettings
from services.dashboard.web import create_app
from services.gateway.intake import dead_letter_headers as gateway_dead_letter_headers
from tests.support.dashboard import incident_resolved

pytestmark = pytest.mark.unit

# -- contacts ----------------------------------------------------------------------------------------

DIGITS = {
    "ascii": "0123456789", "fullwidth": "０１２３４５６７８９", "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "devanagari": "०१२३४५६७८९", "bengali": "০১২৩৪৫৬৭৮৯",
}
COUNTRY_CODES = ["1", "7", "33", "44", "49", "55", "61", "81", "86", "91", "353", "358", "971"]
SEPARATORS = [" ", "-", ".", "\u00a0", "/", " - "]


@dataclass(frozen=True)
class Contact:
    written: str
    hidden: str
    """What must never show: the digits beyond the last four, or the local part."""
    kind: str


@st.composite
def phones(draw: st.DrawFn) -> Contact:
    country = draw(st.sampled_from(COUNTRY_CODES))
    size = draw(st.integers(min_value=9, max_value=15 - len(country)))
    national = str(draw(st.integers(1, 9))) + "".join(str(draw(st.integers(0, 9))) for _ in range(size - 1))
    sep = draw(st.sampled_from(SEPARATORS))
    cuts = draw(st.lists(st.integers(2, 4), min_size=1, max_size=5))
    groups, rest = [], national
    for cut in cuts:
        if len(rest) <= cut + 1:
            break
        groups.append(rest[:cut])
        rest = rest[cut:]
    grouped = sep.join([*groups, rest])
    notation = draw(st.sampled_from(["e164", "bare", "00", "grouped", "trunk", "national", "parentheses", "us",
                                     "extension"]))
    written = {
        "e164": f"+{country}{national}", "bare": f"{country}{national}", "00": f"00{country}{national}",
        "grouped": f"+{country}{sep}{grouped}", "trunk": f"+{country} (0){grouped}", "national": f"0{grouped}",
        "parentheses": f"+{country} ({national[:3]}) {national[3:6]}-{national[6:]}",
        "us": f"({national[:3]}) {national[3:6]}-{national[6:]}", "extension": f"+{country}{national}x12",
    }[notation]
    script = DIGITS[draw(st.sampled_from(sorted(DIGITS)))]
    written = written.translate(str.maketrans("0123456789", script))
    return Contact(written, national[:-4], "phone")


SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzàáâãäåçèéêëìíîïñòóôõöøùúûüýÿßœæ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщъыьэюя",
    "han": "用户名字邮件中文测试数据服务器客户订单张王李赵",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
    "thai": "กขคงจฉชซญดตถทนบปผพฟภมยรลวสหอฮ",
    "ascii": "abcdefghijklmnopqrstuvwxyz0123456789",
}
MARKS = {"devanagari": "ािीुूेैोौंः्", "thai": "ิีึืุู่้๊๋", "arabic": "َُِّْ"}


@st.composite
def words(draw: st.DrawFn, script: str, min_size: int = 2, max_size: int = 8) -> str:
    letters = SCRIPTS[script]
    size = draw(st.integers(min_size, max_size))
    chars = []
    for _ in range(size):
        chars.append(draw(st.sampled_from(letters)))
        if script in MARKS and draw(st.booleans()):
            chars.append(draw(st.sampled_from(MARKS[script])))
    return "".join(chars)


@st.composite
def emails(draw: st.DrawFn) -> Contact:
    script = draw(st.sampled_from(sorted(SCRIPTS)))
    parts = draw(st.lists(words(script), min_size=1, max_size=3))
    joiner = draw(st.sampled_from([".", "_", "-", "+", ""]))
    local = joiner.join(parts)
    domain_script = draw(st.sampled_from([script, "ascii"]))
    labels = draw(st.lists(words(domain_script, 2, 10), min_size=1, max_size=2))
    tld = draw(st.sampled_from(["com", "de", "xn--p1ai", draw(words(domain_script, 2, 4).filter(
        lambda w: any(not c.isdecimal() for c in w)))]))
    dot = draw(st.sampled_from([".", "。"])) if domain_script != "ascii" else "."
    domain = dot.join([*labels, tld])
    assume(len(local) >= 3 and unicodedata.normalize("NFKC", local) not in unicodedata.normalize("NFKC", domain))
    return Contact(f"{local}@{domain}", local, "email")


# -- encodings and the text around a contact ----------------------------------------------------------

def _json_all(text: str) -> str:
    """Every character but ASCII letters and digits as a JSON escape (surrogate pairs beyond the BMP)."""
    out = []
    for char in text:
        if char.isascii() and char.isalnum():
            out.append(char)
        else:
            data = char.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(data[i:i + 2], 'big'):04x}" for i in range(0, len(data), 2))
    return "".join(out)


def _quoted_printable(text: str) -> str:
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"={b:02X}" for b in text.encode())


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda c: c,
    "percent": lambda c: quote(c, safe=""),
    "percent-twice": lambda c: quote(quote(c, safe=""), safe=""),
    "form": quote_plus,
    "json": lambda c: json.dumps(c)[1:-1],
    "json-all": _json_all,
    "json-in-percent": lambda c: quote(_json_all(c), safe=""),
    "html": lambda c: "".join(c_ if c_.isalnum() else f"&#{ord(c_)};" for c_ in c),
    "quoted-printable": _quoted_printable,
    "fullwidth": _fullwidth,
}
CONTEXTS = ["{}", "to {} now", "To={}&Body=STOP", '{{"contact": "{}", "note": "x"}}', "<{}>", "tel:{}", "mailto:{}",
            "联系{}谢谢", "({})", "'{}'", "customer\n{}\tagain"]
NEUTRAL = "Zq"


# -- the outputs ------------------------------------------------------------------------------------

def _log_lines(document: str, *, json_lines: bool) -> list[str]:
    """What the real logging configuration writes for a message, extras and a traceback holding `document`."""
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", json_lines=json_lines, service="masking-test")
    (handler,) = [h for h in root.handlers if getattr(h, "_forewarn", False)]
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logger = logging.getLogger("forewarn.test.masking_everywhere")

    def frozen(record: logging.LogRecord) -> bool:
        record.created, record.msecs = 0.0, 0.0  # the time printed is the same for every example
        return True

    logger.addFilter(frozen)
    try:
        logger.warning("could not reach %s", document, extra={"to": document, "payload": {"body": [document]}})
        try:
            raise ValueError(f"bad contact {document}")
        except ValueError:
            logger.exception("mapping failed for %r", document.encode())
    finally:
        logger.removeFilter(frozen)
        root.removeHandler(handler)
        root.setLevel(level)
    return [stream.getvalue()]


def _header_values(headers: list[tuple[str, bytes]]) -> list[str]:
    return [value.decode("utf-8") for _, value in headers]


def _dead_letter_headers(document: str) -> list[str]:
    ours = dead_letter_headers(topic="orders", partition=1, offset=41, exc=ValueError(f"no customer {document}"),
                               service="order-watcher")
    gateway = gateway_dead_letter_headers(source="twilio", endpoint="/webhooks/twilio/inbound",
                                          error=KeyError(document), received_at="at",
                                          context={"from": document})
    return _header_values(ours) + _header_values(gateway)


class _Kafka(KafkaReader):
    """The cluster as the dashboard reads it, holding one dead letter and one incident built around `document`."""

    def __init__(self, document: str) -> None:
        super().__init__("unused:9092")
        encoded = document.encode()
        headers = (*dead_letter_headers(topic="orders", partition=0, offset=7, service="order-watcher",
                                        exc=ValueError(f"bad value {document}")),
                   (HEADER_PREFIX + "note", encoded))
        resolved = incident_resolved("inc-1", at=datetime(2026, 11, 22, tzinfo=UTC), reason=f"asked by {document}")
        self.records = {
            "orders.dlq": Record("orders.dlq", 0, 0, 1_795_000_000_000, encoded, encoded, headers),
            "gateway.dlq": Record("gateway.dlq", 0, 0, 1_795_000_000_000, None, f"From={document}".encode(), ()),
            "incidents": Record("incidents", 0, 0, 1_795_000_000_000, b"cus_1", resolved.to_bytes(), ()),
        }

    async def partitions(self) -> dict[str, int]:
        return dict.fromkeys(self.records, 1)

    async def offsets(self, topics: Any, partitions: Mapping[str, int] | None = None,
                      ) -> dict[TopicPartitionKey, PartitionOffsets]:
        return {(t, 0): PartitionOffsets(t, 0, 0, 1) for t in topics if t in self.records}

    async def committed(self, group: str) -> dict[TopicPartitionKey, int]:
        return {}

    async def tail(self, ranges: Mapping[TopicPartitionKey, tuple[int, int]]) -> list[Record]:
        return [self.records[topic] for topic, _ in ranges if topic in self.records]


class _Ledger(LedgerReader):
    """The delivery ledger, holding a row for each channel whose address and texts are built around `document`."""

    def __init__(self, document: str) -> None:
        super().__init__("sqlite+aiosqlite:///unused.db")
        self.rows = [{"notification_id": f"ntf-{channel}", "incident_id": "inc-1", "customer_id": document,
                      "order_id": "ord-1", "channel": channel, "address": document, "state": "sent",
                      "reason": document, "severity": "normal", "provider": "twilio", "attempts": 1,
                      "subject": document, "body": f"Hi, we wrote to {document}.", "incident": None}
                     for channel in ("sms", "email", "push")]

    async def latest(self, limit: int) -> list[dict[str, Any]]:
        return self.rows

    async def state_counts(self) -> dict[str, int]:
        return {"sent": len(self.rows)}


async def _dashboard(document: str) -> list[str]:
    panels = Panels(settings=DashboardSettings(), common=CommonSettings(), kafka=_Kafka(document),
                    ledger=_Ledger(document))
    app = create_app(panels, build_instruments(), token=None, refresh_s=5)
    texts: list[str] = []
    async with TestClient(TestServer(app)) as client:
        for path in ("/api/dead-letters", "/api/notifications", "/api/incidents"):
            response = await client.get(path)
            assert response.status == 200, await response.text()
            texts.extend(_strings(await response.json()))
        page = await client.get("/")
        assert page.status == 200
        texts.append(re.sub(r"as of \S+", "as of", html.unescape(await page.text())))  # the time it was read
    return texts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key != "generated_at":  # the time it was read: differs from one request to the next
                yield str(key)
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _outputs(document: str) -> dict[str, list[str]]:
    return {
        "log": _log_lines(document, json_lines=False), "log-json": _log_lines(document, json_lines=True),
        "dead-letter-headers": _dead_letter_headers(document), "dashboard": asyncio.run(_dashboard(document)),
    }


# -- the independent reading of an output -------------------------------------------------------------

def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        return chr(int(match.group(1), 16))
    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", one, text)
    unescaped = re.sub(r"\\([\\/\"'])", r"\1", unescaped).replace("\\n", "\n").replace("\\t", "\t")
    return unescaped.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")


def _qp(text: str) -> str:
    return quopri.decodestring(text.encode("utf-8")).decode("utf-8", errors="replace")


def _decoded(text: str) -> str:
    for _ in range(3):
        text = unicodedata.normalize("NFKC", _json_unescape(html.unescape(unquote(text))))
    return text


def _readings(text: str) -> set[str]:
    return {text, _decoded(text), _decoded(unquote_plus(text)), _decoded(_qp(text))}


_PHONE_PUNCTUATION = re.compile(r"[\s\-./()+\u00a0]")


def _exposes(texts: list[str], contact: Contact) -> bool:
    for text in texts:
        for reading in _readings(text):
            if contact.kind == "phone":
                digits = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in reading)
                if contact.hidden in _PHONE_PUNCTUATION.sub("", digits):
                    return True
            elif unicodedata.normalize("NFKC", contact.hidden) in unicodedata.normalize("NFKC", reading):
                return True
    return False


# -- the property -------------------------------------------------------------------------------------

@cache
def _baseline(encoding: str, context: str) -> dict[str, list[str]]:
    """The outputs with a neutral contact in the same encoding and context."""
    return _outputs(context.format(ENCODINGS[encoding](NEUTRAL)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contact=st.one_of(phones(), emails()), encoding=st.sampled_from(sorted(ENCODINGS)),
       context=st.sampled_from(CONTEXTS))
def test_no_contact_leaves_whole_through_any_output(contact: Contact, encoding: str, context: str) -> None:
    encode = ENCODINGS[encoding]
    for texts in _baseline(encoding, context).values():
        assume(not _exposes(texts, contact))  # the outputs' own text holds these characters anyway
    outputs = _outputs(context.format(encode(contact.written)))
    leaked = {name: texts for name, texts in outputs.items() if _exposes(texts, contact)}
    assert not leaked, f"{contact.written!r} ({encoding}) whole in {sorted(leaked)}: {leaked}"


def test_the_check_sees_a_contact_left_whole() -> None:
    """The property could fail: each reading finds a contact that nothing masked."""
    phone = Contact("+49 30 1234 5678", "301234", "phone")
    email = Contact("josé@exämple.de", "josé", "email")
    assert _exposes([quote_plus(phone.written)], phone)
    assert _exposes([_json_all(email.written)], email)
    assert _exposes([_quoted_printable(email.written)], email)
    assert not _exposes(["+** ** ****5678", "j***@exämple.de"], phone)
