"""The plain data the notification policy reads and the decisions it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from schemas.kinds import SEVERITY_RANK, severity_rank

__all__ = [
    "CHANNELS",
    "SEVERITY_RANK",
    "Action",
    "CapDecision",
    "Channel",
    "ChannelChoice",
    "CoalesceDecision",
    "Decision",
    "IncidentRef",
    "OrderMessage",
    "PolicySettings",
    "Profile",
    "Reason",
    "require_aware",
    "severity_rank",
]

Channel = Literal["sms", "email"]
Action = Literal["send", "defer", "suppress", "join"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")


class Reason(StrEnum):
    """Machine-readable reasons a message is not sent now (values go into events and logs)."""

    NO_CONTACT = "no_contact"
    INVALID_CONTACT = "invalid_contact"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    EMAIL_SUPPRESSED = "email_suppressed"
    SMS_PERMANENTLY_FAILED = "sms_permanently_failed"
    UNSUPPORTED_CHANNEL = "unsupported_channel"
    NO_CHANNEL = "no_channel"
    COALESCED = "coalesced"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"
    RESOLVED_BEFORE_SEND = "resolved_before_send"


def require_aware(at: datetime, what: str = "now") -> datetime:
    """Refuse naive datetimes: every instant the policy compares carries its offset."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return at


@dataclass(frozen=True)
class Profile:
    """What the notifier knows about a customer's contacts, preferences and consent.

    `consent` maps a channel to True (given) or False (refused or withdrawn). A channel absent
    from it is allowed for the transactional problem messages Forewarn sends when the customer
    gave that contact with an order and has not opted out, unless the store sets
    `PolicySettings.require_explicit_consent`. `opted_out` holds channel names; "all" opts out
    of every channel.
    """

    customer_id: str
    store_id: str
    first_name: str = ""
    email: str | None = None
    phone: str | None = None
    locale: str = "en"
    timezone: str | None = None
    channel_preferences: tuple[str, ...] = ("sms", "email")
    consent: Mapping[str, bool] = field(default_factory=dict)
    opted_out: frozenset[str] = frozenset()
    email_suppressed: bool = False
    sms_permanently_failed: bool = False


@dataclass(frozen=True)
class PolicySettings:
    """Store-level knobs of the policy, with the defaults QUALITY.md asks for.

    Each window is read on one clock, never two mixed:
    - `coalesce_window` is event time: it groups incidents by when their trouble happened
      (`detected_at`), so a burst is the same burst however late or in whatever order its
      incidents reach the notifier (a backlog, a replay, a restart in between).
    - `cap_window` is the wall clock at send time: it counts what reached the customer's phone
      or inbox in the last day, which is about when they were sent, not what they are about.
    - the SMS window (`sms_window_start`/`_end`) is the customer's local wall clock at send
      time: a message must not wake them, whatever hour its trouble happened.
    """

    sms_window_start: time = time(8, 0)
    sms_window_end: time = time(21, 0)
    store_timezone: str = "UTC"
    coalesce_window: timedelta = timedelta(minutes=10)
    cap_per_24h: int = 3
    cap_window: timedelta = timedelta(hours=24)
    cap_exempt_severities: tuple[str, ...] = ("critical",)
    require_explicit_consent: bool = False
    # Channels tried after the customer's own preferences, in order.
    fallback_channels: tuple[str, ...] = ("email",)
    # A capped message waits until the cap allows it ("defer") or is dropped ("suppress").
    capped_action: Literal["defer", "suppress"] = "defer"
    quiet_hours_channels: tuple[str, ...] = ("sms",)

    def __post_init__(self) -> None:
        if self.cap_per_24h < 0:
            raise ValueError("cap_per_24h must be >= 0")
        if self.coalesce_window < timedelta(0) or self.cap_window <= timedelta(0):
            raise ValueError("windows must be positive")


@dataclass(frozen=True)
class IncidentRef:
    """The parts of an incident the policy looks at."""

    incident_id: str
    order_id: str | None
    kind: str
    severity: str
    detected_at: datetime
    escalate: bool = False

    @classmethod
    def of(cls, incident: Any) -> IncidentRef:
        """Read an incident (e.g. schemas.IncidentDetectedData) duck-typed."""

        def plain(value: Any) -> Any:
            return getattr(value, "value", value)

        order_id = plain(getattr(incident, "order_id", None))
        return cls(
            incident_id=str(plain(incident.incident_id)),
            order_id=None if order_id is None else str(order_id),
            kind=str(plain(incident.kind)),
            severity=str(plain(getattr(incident, "severity", "normal"))),
            detected_at=require_aware(incident.detected_at, "detected_at"),
            escalate=bool(getattr(incident, "escalate", False)),
        )


@dataclass(frozen=True)
class OrderMessage:
    """A message about an order that is pending (sent_at None) or was sent.

    `first_incident_at` is the event time (`detected_at`) of the earliest incident it carries:
    the start of its burst. `sent_at` and `due_at` are wall-clock send times.
    """

    message_id: str
    order_id: str
    incident_ids: frozenset[str]
    first_incident_at: datetime
    severity: str = "normal"
    sent_at: datetime | None = None
    due_at: datetime | None = None  # when a pending message is scheduled to go out

    @property
    def pending(self) -> bool:
        """True while the message has not gone out."""
        return self.sent_at is None


@dataclass(frozen=True)
class ChannelChoice:
    """The channel to use, or None with the reason; `skipped` says why others were passed."""

    channel: Channel | None
    reason: Reason | None = None
    skipped: tuple[tuple[str, Reason], ...] = ()


@dataclass(frozen=True)
class CapDecision:
    """Whether the frequency cap lets a message through, and when it would."""

    allowed: bool
    reason: Reason | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class CoalesceDecision:
    """A new message, joining a pending one, or suppressed as already covered.

    A "new" decision may name the deferred message of the same order it does not wait behind
    (`overtakes`, due at `overtakes_due_at`): should the new message have to wait as long
    anyway, it joins that one instead (the pipeline decides, knowing the cap and quiet hours).
    """

    action: Literal["new", "join", "suppress"]
    message_id: str | None = None
    reason: Reason | None = None
    overtakes: str | None = None
    overtakes_due_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with an incident now.

    send: render and send on `channel` now. defer: evaluate again at `due_at`. suppress: never
    send, `reason` says why. join: add the incident to pending message `join_message_id`
    (it goes out with that message, at its time).
    """

    action: Action
    channel: Channel | None = None
    reason: Reason | None = None
    due_at: datetime | None = None
    join_message_id: str | None = None
    skipped_channels: tuple[tuple[str, Reason], ...] = ()
