"""Structured logging that never prints a full phone number, email or secret (see `masking.mask_pii`)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from services.common.masking import mask_pii

__all__ = ["JsonFormatter", "MaskingFilter", "configure_logging", "masked_value"]

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Rewrites each record's message, extra fields (strings inside containers too), traceback and
    stack with PII masked. Numbers are left as they are: counts and offsets, never contacts."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = mask_pii(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STD_ATTRS:
                setattr(record, key, masked_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        return True


def masked_value(value: Any) -> Any:
    """An extra field as it may be logged: text masked, containers walked, other objects as masked text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, bytes | bytearray):
        return mask_pii(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, Mapping):
        return {masked_value(str(key)): masked_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [masked_value(item) for item in value]
    return mask_pii(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = False, service: str = "") -> None:
    """Install one masked handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_forewarn", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._forewarn = True  # type: ignore[attr-defined]
    handler.addFilter(MaskingFilter())
    prefix = f"{service} " if service else ""
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "faust", "mode", "kafka", "twilio", "python_http_client"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
