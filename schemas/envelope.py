"""The CloudEvents 1.0 envelope every message value is wrapped in, and the contract error."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from schemas.values import Id, JsonExtra

__all__ = ["CloudEvent", "ContractError"]

MAX_LISTED_ERRORS = 10
_ALWAYS_REQUIRED = ("specversion", "type")
_NOT_AN_OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")


class ContractError(ValueError):
    """A value that breaks the event contract.

    `field` is the dotted path of the first offending field ("data.customer.phone"), or None
    when the value as a whole is wrong (not UTF-8, not JSON, too large). `reason` says what
    is wrong. Neither ever contains the offending input, which may be personal data, so the
    error is safe to log and to put in a dead-letter header. `errors` lists every problem as
    (path, kind, message).
    """

    def __init__(self, field: str | None, reason: str, errors: Sequence[tuple[str, str, str]] = ()) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason
        self.errors: tuple[tuple[str, str, str], ...] = tuple(errors)

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.reason, self.errors))

    @classmethod
    def from_validation_error(cls, exc: ValidationError, *, tags: Collection[str] = ()) -> ContractError:
        """Convert pydantic's error, dropping input values; `tags` are union tags to strip from paths."""
        items: list[tuple[str | None, str, str]] = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            if loc and isinstance(loc[0], str) and loc[0] in tags:
                loc = loc[1:]
            if "[key]" in loc:  # a rejected mapping key: name the mapping, not the key itself
                loc = (*loc[: loc.index("[key]") - 1], "[key]")
            ctx = error.get("ctx") or {}
            if isinstance(ctx.get("contract_field"), str):
                loc = (*loc, ctx["contract_field"])
            items.append(_describe(error["type"], loc, _safe_message(error["msg"], error.get("input"))))
        if not items:  # pragma: no cover - pydantic always reports at least one error
            return cls(None, "invalid event")
        field, _kind, first = items[0]
        listed = [(path or "", k, m) for path, k, m in items]
        reason = first
        if len(items) > 1:
            more = [f"{path or '(event)'}: {m}" for path, _, m in items[1:MAX_LISTED_ERRORS]]
            if len(items) > MAX_LISTED_ERRORS:
                more.append(f"and {len(items) - MAX_LISTED_ERRORS} more")
            reason = f"{first} (also: {'; '.join(more)})"
        return cls(field, reason, listed)


def _describe(kind: str, loc: tuple[Any, ...], message: str) -> tuple[str | None, str, str]:
    """The (path, kind, message) of one error, with the envelope-level cases worded plainly."""
    if kind == "json_invalid":
        return None, kind, "value is not valid JSON: " + message.removeprefix("Invalid JSON: ")
    if not loc and kind in _NOT_AN_OBJECT:
        return None, kind, "event must be a JSON object"
    if kind == "union_tag_not_found":
        return ".".join(map(str, (*loc, "type"))), kind, "missing event type"
    if kind == "union_tag_invalid":
        return ".".join(map(str, (*loc, "type"))), kind, "unknown event type"
    return ".".join(map(str, loc)) or None, kind, message


def _safe_message(message: str, value: Any) -> str:
    for prefix in _MESSAGE_PREFIXES:
        message = message.removeprefix(prefix)
    if isinstance(value, str) and len(value) >= 4 and value in message:
        message = message.replace(value, "<redacted>")
    return message


def _envelope_schema(schema: dict[str, Any], model: type[Any]) -> None:
    """On the wire `specversion` and `type` are required even though the models default them."""
    properties = schema.get("properties")
    required = schema.get("required")
    if isinstance(properties, dict) and isinstance(required, list):
        wanted = {*map(str, required), *_ALWAYS_REQUIRED}
        schema["required"] = [name for name in properties if name in wanted]
    path = getattr(model, "subject_path", None)
    if path and "description" not in schema:
        schema["description"] = f"A CloudEvents 1.0 event; its subject (the Kafka key) equals {path}."


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured-mode JSON; subclasses fix `type` and type `data`.

    Unknown attributes (CloudEvents extensions) are kept and round-trip. `subject` is the
    Kafka key; `subject_path` names the data field it must equal, where the topic has one.
    """

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra=_envelope_schema)

    subject_path: ClassVar[str | None] = None
    __pydantic_extra__: dict[str, JsonExtra] = Field(init=False)

    specversion: Literal["1.0"] = "1.0"
    id: Id = Field(description="unique per event; the dedupe key")
    source: Id = Field(description="who emitted it, e.g. store/acme or forewarn/order-watcher")
    type: str
    time: AwareDatetime = Field(description="event time, RFC 3339 with offset")
    subject: Id = Field(description="the id of the key entity; the Kafka message key")
    datacontenttype: str = "application/json"
    data: Any

    @model_validator(mode="after")
    def _subject_is_the_key(self) -> Self:
        path = type(self).subject_path
        if path is not None:
            expected = self._resolve(path)
            if expected is not None and expected != self.subject:
                raise PydanticCustomError(
                    "subject_mismatch", "subject must equal {path}", {"path": path, "contract_field": "subject"}
                )
        return self

    def _resolve(self, path: str) -> Any:
        value: Any = self
        for part in path.split("."):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def to_bytes(self) -> bytes:
        """The Kafka message value: compact UTF-8 JSON."""
        return self.model_dump_json(by_alias=True).encode("utf-8")

    def key(self) -> bytes:
        """The Kafka message key: the subject, UTF-8."""
        return self.subject.encode("utf-8")
