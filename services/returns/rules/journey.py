"""The return journey: each return event updates its case, and the updates the store wants go out.

Only true updates: the receipt ("we have your return, refund by ...") is not sent from the event
itself but at the ACKNOWLEDGE deadline (the receipt's time), when the stream has been read that
far, so a refund or a refusal that arrived with it is known and nothing is said about the receipt.
A refund or a refusal that comes after it was emitted withdraws it: the notifier drops a message
not yet sent (a deferred one, say) whose promise is no longer true.
"""

from __future__ import annotations

from datetime import datetime

from schemas import RefundIssued, ReturnLabelScanned, ReturnLine, ReturnReceived, ReturnRejected, ReturnRequested
from services.returns.rules.effects import Step
from services.returns.rules.incidents import incident_id
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import ReturnCase, ReturnsState
from services.returns.rules.window import check_window

__all__ = [
    "acknowledge_due",
    "fire_acknowledgements",
    "on_label_scanned",
    "on_received",
    "on_refund",
    "on_rejected",
    "on_requested",
    "open_case",
]

CLEARED_BY_PARCEL = ("return_stalled",)
"""Incidents a moving or arrived parcel makes moot."""
CLEARED_BY_DECISION = ("refund_overdue", "return_stalled", "return_received")
"""Incidents a refund or a refusal makes moot (the receipt's "refund by" is no longer true)."""


def open_case(step: Step, return_id: str) -> ReturnCase | None:
    """The order's case for `return_id`, opened if new; None once the order tracks `returns_limit` returns."""
    state = step.state
    case = state.case(return_id)
    if case is None:
        if len(state.returns) >= step.settings.returns_limit:
            return None
        case = ReturnCase(return_id=return_id)
        state.returns = [*state.returns, case]
    return case


def _update(step: Step, case: ReturnCase, **changes: object) -> ReturnCase:
    """The case with `changes`, put in its place in the step's state (cases are never changed in place)."""
    changed = case.model_copy(update=changes)
    step.state.replace_case(changed)
    return changed


def _first_product(lines: list[ReturnLine]) -> str | None:
    return lines[0].product_name if lines else None


def on_requested(step: Step, event: ReturnRequested) -> None:
    """The customer asked to return: note what, the label, and whether it is inside the store's window."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    changes: dict[str, object] = {
        "product_name": case.product_name or _first_product(data.lines),
        "refund_amount": case.refund_amount or data.refund_amount,
        "label_url": data.label_url or case.label_url,
    }
    if case.requested_at is None or (data.requested_at, event.id) < (case.requested_at, case.requested_event_id or ""):
        changes.update(requested_at=data.requested_at, requested_event_id=event.id)
    case = _update(step, case, **changes)
    check_window(step, case, event)


def on_label_scanned(step: Step, event: ReturnLabelScanned) -> None:
    """The parcel is on its way back: the label reminder is no longer needed."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    case = _update(step, case, label_scanned_at=min(filter(None, [case.label_scanned_at, data.scanned_at])))
    for mark in step.state.live(case.return_id, *CLEARED_BY_PARCEL):
        step.resolve(mark, "label_scanned", event.time)


def on_received(step: Step, event: ReturnReceived) -> None:
    """The parcel arrived: the refund SLA starts, and the customer will hear we have it (see `acknowledge_due`)."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    changes: dict[str, object] = {"refund_amount": data.refund_amount or case.refund_amount}
    if data.lines:
        changes["product_name"] = _first_product(data.lines)
    if case.received_at is None or data.received_at < case.received_at:
        changes.update(received_at=data.received_at, received_event_id=event.id)
    case = _update(step, case, **changes)
    for mark in step.state.live(case.return_id, *CLEARED_BY_PARCEL):
        step.resolve(mark, "return_received", event.time)


def acknowledge_due(state: ReturnsState, case: ReturnCase, settings: ReturnSettings) -> datetime | None:
    """When to tell the customer their return arrived: at the receipt, unless the store does not want it, a
    refund or a refusal already said more, or it was said (or withdrawn) before."""
    if not settings.journey_return_received or case.received_at is None or case.closed:
        return None
    if state.mark(incident_id("return_received", state.order_id, case.return_id, "received")) is not None:
        return None
    return case.received_at


def fire_acknowledgements(step: Step, now: datetime) -> None:
    """return_received, once per return, for every receipt due by `now` still true: no refund, no refusal."""
    state, settings = step.state, step.settings
    for case in state.returns:
        due = acknowledge_due(state, case, settings)
        if due is not None and due <= now:
            facts = {"refund_expected_by": case.refund_due(settings.refund_sla)}
            step.emit("return_received", case, "received", facts, [case.requested_event_id, case.received_event_id],
                      due)


def on_refund(step: Step, event: RefundIssued) -> None:
    """Money went back: an overdue refund is withdrawn, and the store may want the customer told."""
    data = event.data
    if data.return_id is None:
        return  # a refund without a return (a cancellation) is not part of a return's journey
    case = open_case(step, data.return_id)
    if case is None:
        return
    case = _update(step, case, refunded_at=min(filter(None, [case.refunded_at, data.issued_at])))
    for mark in step.state.live(case.return_id, *CLEARED_BY_DECISION):
        step.resolve(mark, "refund_issued", event.time)
    if not step.settings.journey_refund_issued:
        return
    facts = {
        "amount": data.amount,
        "refund_amount": data.amount,
        "refund_method": data.method,
        "refund_expected_by": data.expected_by,
    }
    step.emit("refund_issued", case, f"refund:{data.refund_id}", facts, [case.received_event_id, event.id], event.time)


def on_rejected(step: Step, event: ReturnRejected) -> None:
    """The store refused the return: nothing is overdue any more; the customer hears why, in plain words."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    case = _update(step, case, rejected_at=min(filter(None, [case.rejected_at, data.rejected_at])))
    for mark in step.state.live(case.return_id, *CLEARED_BY_DECISION):
        step.resolve(mark, "return_rejected", event.time)
    if not step.settings.journey_return_rejected or case.refunded_at is not None:
        return
    facts = {"reason_text": data.reason_text}
    step.emit("return_rejected", case, "rejected", facts, [case.requested_event_id, event.id], event.time)
