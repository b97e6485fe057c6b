"""View models: what the API returns and the page shows, built from what was read, with contacts masked.

Pure functions over records, offsets and ledger rows. Phone numbers and email addresses never leave
here in full: ops see what happened and to whom (masked), not a contact list."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import INCIDENTS, TOPICS, ContractError, IncidentDetected, IncidentResolved, dlq_topic, parse_event
from services.common.deadletter import HEADER_PREFIX
from services.common.masking import mask_email, mask_phone, mask_pii
from services.dashboard.lag import GroupLag
from services.dashboard.records import PartitionOffsets, Record, TopicPartitionKey

__all__ = [
    "MAX_PREVIEW_CHARS",
    "RegistryTopic",
    "dead_letter_view",
    "delivery_view",
    "incident_view",
    "lag_view",
    "latest_dead_letters",
    "latest_incidents",
    "mask_address",
    "registry_topics",
    "topic_view",
    "utc_iso",
    "value_preview",
    "with_other_dead_letters",
]

MAX_PREVIEW_CHARS = 80
"""A dead letter's value is shown as a masked beginning this long, never whole."""
MAX_PREVIEW_SCAN = 64 * 1024
"""Larger values are not previewed at all (only their size): masking them costs too much."""
MAX_HEADER_CHARS = 1000
MASK_WINDOW_CHARS = 4096
"""Text shown only in part is masked over this much of its beginning (whole, if masking shrank it to
under half: what is shown then comes from a text masked whole, never from an unmasked tail)."""
_NUMERIC_HEADERS = frozenset({"original-partition", "original-offset", "attempts"})
"""Dead-letter headers that are plain counters: shown as they are when they are plain ASCII numbers."""
_PLAIN_NUMBER = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class RegistryTopic:
    """A topic of the registry (or its dead-letter topic) under this deployment's prefix."""

    name: str
    base: str
    dead_letter: bool
    internal: bool


def registry_topics(prefix: str) -> list[RegistryTopic]:
    """Every registry topic followed by its `.dlq`, in registry order."""
    topics: list[RegistryTopic] = []
    for base, topic in TOPICS.items():
        topics.append(RegistryTopic(prefix + base, base, False, topic.internal))
        topics.append(RegistryTopic(prefix + dlq_topic(base), dlq_topic(base), True, topic.internal))
    return topics


def with_other_dead_letters(topics: Sequence[RegistryTopic], prefix: str,
                            existing: Iterable[str]) -> list[RegistryTopic]:
    """`topics` and, after them, every other existing `{prefix}*.dlq` topic (say, the gateway's raw
    webhooks), so a dead-letter topic outside the registry is counted too."""
    known = {t.name for t in topics}
    extra = sorted(name for name in existing
                   if name.startswith(prefix) and name.endswith(dlq_topic("")) and name not in known)
    return [*topics, *(RegistryTopic(name, name[len(prefix):], True, False) for name in extra)]


def utc_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _iso_ms(timestamp_ms: int | None) -> str | None:
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return utc_iso(datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC))


# -- topics and lag ---------------------------------------------------------------------------

def topic_view(
    topics: Sequence[RegistryTopic], offsets: Mapping[TopicPartitionKey, PartitionOffsets],
    rates: Mapping[str, float | None],
) -> list[dict[str, Any]]:
    """One row per topic: partitions, end offsets, messages held, recent rate; `exists` false if missing."""
    rows: list[dict[str, Any]] = []
    for topic in topics:
        logs = sorted((log for log in offsets.values() if log.topic == topic.name), key=lambda log: log.partition)
        rate = rates.get(topic.name)
        rows.append({
            "topic": topic.name, "base": topic.base, "dead_letter": topic.dead_letter, "internal": topic.internal,
            "exists": bool(logs), "partitions": len(logs),
            "end_offsets": [log.end for log in logs], "end_offset": sum(log.end for log in logs),
            "messages": sum(log.messages for log in logs),
            "rate_per_s": None if rate is None else round(rate, 3),
        })
    return rows


def lag_view(groups: Iterable[GroupLag]) -> dict[str, list[dict[str, Any]]]:
    """Totals per service group, and one row per (group, topic) with its partitions."""
    totals: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for group in groups:
        totals.append({"service": group.service, "group": group.group, "total_lag": group.total,
                       "topics": len(group.topics), "has_commits": group.has_commits})
        for topic in group.topics:
            rows.append({
                "service": group.service, "group": group.group, "topic": topic.topic,
                "committed": topic.committed, "end": topic.end, "lag": topic.lag,
                "partitions": [{"partition": p.partition, "committed": p.committed, "begin": p.begin,
                                "end": p.end, "lag": p.lag} for p in topic.partitions],
            })
    return {"groups": totals, "lag": rows}


# -- incidents --------------------------------------------------------------------------------

def incident_view(record: Record) -> dict[str, Any] | None:
    """An `incidents` record as a row, or None when it breaks the contract.

    The customer appears by id only; their contact details, which the event carries, are left out."""
    try:
        event = parse_event(record.value or b"", topic=INCIDENTS)
    except ContractError:
        return None
    base: dict[str, Any] = {"partition": record.partition, "offset": record.offset, "event_id": event.id}
    if isinstance(event, IncidentDetected):
        data = event.data
        return {**base, "status": "detected", "incident_id": data.incident_id, "kind": data.kind,
                "order_id": data.order_id, "customer_id": mask_pii(data.customer.id), "store_id": data.store_id,
                "severity": data.severity, "escalate": data.escalate, "escalation_tier": data.escalation_tier,
                "product": data.facts.product_name, "reason": None, "at": utc_iso(data.detected_at)}
    if isinstance(event, IncidentResolved):
        resolved = event.data
        return {**base, "status": "resolved", "incident_id": resolved.incident_id, "kind": resolved.kind,
                "order_id": resolved.order_id, "customer_id": mask_pii(resolved.customer_id), "store_id": None,
                "severity": None, "escalate": None, "escalation_tier": None, "product": None,
                "reason": mask_pii(resolved.reason), "at": utc_iso(resolved.resolved_at)}
    return None


def latest_incidents(records: Iterable[Record], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The newest `limit` incidents (by event time), and how many records could not be read."""
    rows: list[dict[str, Any]] = []
    unreadable = 0
    for record in records:
        row = incident_view(record)
        if row is None:
            unreadable += 1
        else:
            rows.append(row)
    rows.sort(key=lambda r: (r["at"] or "", r["partition"], r["offset"]), reverse=True)
    return rows[:limit], unreadable


# -- notifications (the delivery ledger) ------------------------------------------------------

def mask_address(channel: str | None, address: str | None) -> str | None:
    """The phone or email a message went to, masked the way its channel calls for; whatever else the
    column holds (an address of the other kind, an encoded one) is masked like free text first."""
    if address is None:
        return None
    masked = mask_pii(address)
    if channel == "sms":
        return mask_phone(masked)
    if channel == "email" and masked == address and "@" in address:
        return mask_email(address)
    return masked


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_pii(text)


def _incident_facts(incident_json: str | None) -> tuple[str | None, int | None]:
    """The kind and escalation tier of the incident a ledger row keeps (as the event's JSON)."""
    if not incident_json:
        return None, None
    try:
        data = json.loads(incident_json).get("data") or {}
    except (ValueError, AttributeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    kind = data.get("kind")
    tier = data.get("escalation_tier")
    return (kind if isinstance(kind, str) else None), (tier if isinstance(tier, int) else None)


def delivery_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger row as ops see it: state and timing in full; address, subject and body masked."""
    kind, tier = _incident_facts(row.get("incident"))
    channel = row.get("channel")
    return {
        "notification_id": row.get("notification_id"), "incident_id": row.get("incident_id"), "kind": kind,
        "escalation_tier": tier, "customer_id": _masked(row.get("customer_id")), "order_id": row.get("order_id"),
        "channel": channel, "address": mask_address(channel, row.get("address")), "state": row.get("state"),
        "reason": _masked(row.get("reason")), "severity": row.get("severity"), "provider": row.get("provider"),
        "provider_message_id": row.get("provider_message_id"), "attempts": row.get("attempts"),
        "due_at": utc_iso(row.get("due_at")), "created_at": utc_iso(row.get("created_at")),
        "updated_at": utc_iso(row.get("updated_at")), "subject": _masked(row.get("subject")),
        "body": _masked(row.get("body")),
    }


# -- dead letters -----------------------------------------------------------------------------

def _masked_beginning(text: str, shown: int) -> str:
    """At most `shown` characters of `text` with contacts masked (decoded first: see `mask_pii`), and
    `…` if there was more."""
    masked = mask_pii(text[:MASK_WINDOW_CHARS])
    if len(text) > MASK_WINDOW_CHARS and len(masked) < MASK_WINDOW_CHARS // 2:
        masked = mask_pii(text)
    elif len(text) > MASK_WINDOW_CHARS:
        masked += "…"
    return masked if len(masked) <= shown else masked[: shown - 1] + "…"


def value_preview(value: bytes | None) -> str | None:
    """The beginning of a dead letter's value, whitespace folded, masked; None for none or a huge value."""
    if value is None or len(value) > MAX_PREVIEW_SCAN:
        return None
    text = re.sub(r"\s+", " ", value.decode("utf-8", errors="replace")).strip()
    return _masked_beginning(text, MAX_PREVIEW_CHARS)


def _header_text(raw: bytes) -> str:
    return _masked_beginning(raw.decode("utf-8", errors="replace"), MAX_HEADER_CHARS)


def _dead_letter_header(name: str, raw: bytes) -> str:
    if name in _NUMERIC_HEADERS and _PLAIN_NUMBER.fullmatch(raw.decode("ascii", errors="replace")):
        return raw.decode("ascii")  # an offset is no phone number, however many digits it has
    return _header_text(raw)


def dead_letter_view(record: Record) -> dict[str, Any]:
    """A dead letter: where it came from and why it failed (the `forewarn.dlq.*` headers), its size,
    and a masked preview of its value (never the value in full)."""
    headers = {name[len(HEADER_PREFIX):]: _dead_letter_header(name[len(HEADER_PREFIX):], value)
               for name, value in record.headers if name.startswith(HEADER_PREFIX)}
    key = None if record.key is None else _header_text(record.key)[:256]
    return {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "at": _iso_ms(record.timestamp_ms), "key": key,
        "original_topic": headers.get("original-topic"), "original_partition": headers.get("original-partition"),
        "original_offset": headers.get("original-offset"), "error_class": headers.get("error-class"),
        "error_message": headers.get("error-message"), "service": headers.get("service"),
        "attempts": headers.get("attempts"), "headers": headers,
        "value_bytes": 0 if record.value is None else len(record.value), "value_preview": value_preview(record.value),
    }


def latest_dead_letters(records: Iterable[Record], per_topic: int) -> list[dict[str, Any]]:
    """The newest `per_topic` dead letters of each topic, newest first."""
    by_topic: dict[str, list[Record]] = {}
    for record in records:
        by_topic.setdefault(record.topic, []).append(record)
    rows: list[dict[str, Any]] = []
    for topic in sorted(by_topic):
        newest = sorted(by_topic[topic], key=lambda r: (r.timestamp_ms or 0, r.partition, r.offset), reverse=True)
        rows.extend(dead_letter_view(record) for record in newest[:per_topic])
    return rows
