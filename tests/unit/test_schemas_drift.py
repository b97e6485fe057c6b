"""Generated contract files (JSON Schema, AsyncAPI) match the models; every type has a schema and an example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import schemas
from schemas import EVENT_TYPES, TOPICS, generate

pytestmark = pytest.mark.unit

PACKAGE = Path(schemas.__file__).parent
VALID = PACKAGE / "examples" / "valid"


def test_committed_generated_files_match_the_models() -> None:
    expected = generate.expected_files()
    assert {path.name for path in expected} == {f"{t}.json" for t in EVENT_TYPES} | {"asyncapi.yaml"}
    for path, text in expected.items():
        assert path.is_file(), f"{path} is missing: run python -m schemas.generate"
        assert path.read_text("utf-8") == text, f"{path} drifted: run python -m schemas.generate"
    assert generate.drifted(expected) == []


def test_generation_is_deterministic() -> None:
    assert generate.expected_files() == generate.expected_files()


def test_check_command_passes_on_the_committed_files() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemas.generate", "--check"],
        cwd=PACKAGE.parent, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_check_reports_missing_changed_and_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(generate, "JSON_DIR", tmp_path / "json")
    monkeypatch.setattr(generate, "ASYNCAPI_PATH", tmp_path / "asyncapi.yaml")
    assert generate.main(["--check"]) == 1
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    target = tmp_path / "json" / "order.placed.json"
    target.write_text(target.read_text("utf-8").replace('"order_id"', '"order_no"'), "utf-8")
    assert generate.drifted() == [target]
    assert generate.main(["--check"]) == 1
    generate.main([])
    stale = tmp_path / "json" / "order.teleported.json"
    stale.write_text("{}\n", "utf-8")
    assert generate.drifted() == [stale]
    generate.main([])
    assert not stale.exists() and generate.main(["--check"]) == 0


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_every_event_type_has_a_schema_file_and_a_valid_example(type_: str) -> None:
    schema = json.loads((PACKAGE / "json" / f"{type_}.json").read_text("utf-8"))
    assert schema["properties"]["type"]["const"] == type_
    assert {"specversion", "id", "source", "type", "time", "subject", "data"} <= set(schema["required"])
    example = json.loads((VALID / f"{type_}.json").read_text("utf-8"))
    assert example["type"] == type_
    _assert_required_present(schema, example)


def _assert_required_present(schema: dict[str, Any], event: dict[str, Any]) -> None:
    """The example carries what the schema requires, at the top and in `data`."""
    assert set(schema["required"]) <= set(event)
    data_ref = schema["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["$defs"][data_ref].get("required", [])) <= set(event["data"])


def test_every_example_file_is_named_after_a_registered_type() -> None:
    for path in VALID.glob("*.json"):
        assert path.stem.split("--")[0] in EVENT_TYPES, path.name


def test_registry_topics_and_event_types_agree() -> None:
    public = [topic for topic in TOPICS.values() if not topic.internal]
    listed = [type_ for topic in public for type_ in topic.event_types]
    assert sorted(listed) == sorted(EVENT_TYPES)
    assert len(listed) == len(set(listed))


def test_asyncapi_document_describes_every_public_topic_and_message() -> None:
    document = yaml.safe_load((PACKAGE / "asyncapi.yaml").read_text("utf-8"))
    assert document["asyncapi"] == "3.0.0"
    public = {name for name, topic in TOPICS.items() if not topic.internal}
    assert set(document["channels"]) == public
    messages = document["components"]["messages"]
    assert set(messages) == set(EVENT_TYPES)
    for type_, message in messages.items():
        assert (PACKAGE / message["payload"]["$ref"]).is_file()
        assert message["name"] == type_
    for name, channel in document["channels"].items():
        assert channel["address"] == name
        assert set(channel["messages"]) == set(TOPICS[name].event_types)
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        assert channel in public
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel}/messages/")
