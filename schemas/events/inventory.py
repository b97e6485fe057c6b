"""Events on the `inventory` topic (keyed by SKU): stock level changes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, NonNegativeInt

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Id

__all__ = ["StockChanged", "StockChangedData"]


class StockChangedData(ContractModel):
    """The units of a SKU available to sell now, and when more are expected."""

    sku: Id
    available: NonNegativeInt
    restock_eta: AwareDatetime | None = None
    changed_at: AwareDatetime
    store_id: Id | None = None
    product_name: str | None = None


class StockChanged(CloudEvent):
    subject_path: ClassVar[str | None] = "data.sku"
    type: Literal["stock.changed"] = "stock.changed"
    data: StockChangedData
