"""Table writes held back until a message's sends are acknowledged: now part of the processing core.

Kept so that `from services.order_watcher.staging import Staged` still reads; the views live in
`services.common.processing`.
"""

from __future__ import annotations

from services.common.processing import BatchStaged, Staged

__all__ = ["BatchStaged", "Staged"]
