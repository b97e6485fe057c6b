"""The return journey: each return event updates its case, and the updates the store wants go out."""

from __future__ import annotations

from schemas import RefundIssued, ReturnLabelScanned, ReturnLine, ReturnReceived, ReturnRejected, ReturnRequested
from services.returns.rules.effects import Step
from services.returns.rules.state import ReturnCase
from services.returns.rules.window import check_window

__all__ = ["on_label_scanned", "on_received", "on_refund", "on_rejected", "on_requested", "open_case"]

CLEARED_BY_PARCEL = ("return_stalled",)
"""Incidents a moving or arrived parcel makes moot."""
CLEARED_BY_DECISION = ("refund_overdue", "return_stalled")
"""Incidents a refund or a refusal makes moot."""


def open_case(step: Step, return_id: str) -> ReturnCase | None:
    """The order's case for `return_id`, opened if new; None once the order tracks `returns_limit` returns."""
    state = step.state
    case = state.case(return_id)
    if case is None:
        if len(state.returns) >= step.settings.returns_limit:
            return None
        case = ReturnCase(return_id=return_id)
        state.returns.append(case)
    return case


def _first_product(lines: list[ReturnLine]) -> str | None:
    return lines[0].product_name if lines else None


def on_requested(step: Step, event: ReturnRequested) -> None:
    """The customer asked to return: note what, the label, and whether it is inside the store's window."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    if case.requested_at is None or (data.requested_at, event.id) < (case.requested_at, case.requested_event_id or ""):
        case.requested_at = data.requested_at
        case.requested_event_id = event.id
    case.product_name = case.product_name or _first_product(data.lines)
    case.refund_amount = case.refund_amount or data.refund_amount
    case.label_url = data.label_url or case.label_url
    check_window(step, case, event)


def on_label_scanned(step: Step, event: ReturnLabelScanned) -> None:
    """The parcel is on its way back: the label reminder is no longer needed."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    case.label_scanned_at = min(filter(None, [case.label_scanned_at, data.scanned_at]))
    for mark in step.state.live(case.return_id, *CLEARED_BY_PARCEL):
        step.resolve(mark, "label_scanned", event.time)


def on_received(step: Step, event: ReturnReceived) -> None:
    """The parcel arrived: the refund SLA starts, and the customer hears we have it (with the refund date)."""
    data = event.data
    case = open_case(step, data.return_id)
    if case is None:
        return
    if data.lines:
        case.product_name = _first_product(data.lines)
    case.refund_amount = data.refund_amount or case.refund_amount
    if case.received_at is None or data.received_at < case.received_at:
        case.received_at = data.received_at
        case.received_event_id = event.id
    for mark in step.state.live(case.return_id, *CLEARED_BY_PARCEL):
        step.resolve(mark, "return_received", event.time)
    if not step.settings.journey_return_received or case.closed:
        return  # a refund or a refusal already told the customer more than a receipt would
    facts = {"refund_expected_by": case.refund_due(step.settings.refund_sla)}
    step.emit("return_received", case, "received", facts, [case.requested_event_id, event.id], event.time)


def on_refund(step: Step, event: RefundIssued) -> None:
    """Money went back: an overdue refund is withdrawn, and the store may want the customer told."""
    data = event.data
    if data.return_id is None:
        return  # a refund without a return (a cancellation) is not part of a return's journey
    case = open_case(step, data.return_id)
    if case is None:
        return
    case.refunded_at = min(filter(None, [case.refunded_at, data.issued_at]))
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
    case.rejected_at = min(filter(None, [case.rejected_at, data.rejected_at]))
    for mark in step.state.live(case.return_id, *CLEARED_BY_DECISION):
        step.resolve(mark, "return_rejected", event.time)
    if not step.settings.journey_return_rejected or case.refunded_at is not None:
        return
    facts = {"reason_text": data.reason_text}
    step.emit("return_rejected", case, "rejected", facts, [case.requested_event_id, event.id], event.time)
