"""The per-order rule core both order_watcher and returns build on.

Admission (dedupe by event digest, hold events until their order.placed), firing a deadline
(re-checked against the state; FORGET drops it), the step that collects what a rule emits, withdraws
and escalates (`Step`, `Outcome`), `Deadline`, deterministic incident ids and payloads, per-store
settings, and the state every per-order record shares. Pure: no I/O.
"""

from services.common.order_rules.admission import admit
from services.common.order_rules.deadlines import FORGET, Deadline
from services.common.order_rules.firing import fire, forget_held
from services.common.order_rules.incidents import build_incident, incident_id
from services.common.order_rules.settings import StoreSettings
from services.common.order_rules.state import Compact, IncidentMarkBase, OrderRecord, Part
from services.common.order_rules.steps import Outcome, Step

__all__ = [
    "FORGET",
    "Compact",
    "Deadline",
    "IncidentMarkBase",
    "OrderRecord",
    "Outcome",
    "Part",
    "Step",
    "StoreSettings",
    "admit",
    "build_incident",
    "fire",
    "forget_held",
    "incident_id",
]
