"""The topics a service needs are derived from its built app (pinned against the Faust version in constraints.txt)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import NewTopic
from mode import CrashingSupervisor

from services.common.kafka import TopicLayoutError, app_topic_specs, ensure_topics, topic_problems
from services.common.runner import crash_on_agent_error
from services.common.settings import CommonSettings
from services.common.streams import create_app, raw_topic
from services.order_watcher.agents import build as build_order_watcher
from services.returns.agents import build as build_returns

pytestmark = pytest.mark.unit


def _settings(tmp_path: object) -> CommonSettings:
    return CommonSettings(kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="p-", partitions=4,
                          data_dir=str(tmp_path))


def test_every_table_changelog_and_the_leader_topic_are_named_as_faust_names_them(tmp_path: object) -> None:
    app = build_order_watcher(_settings(tmp_path))
    specs = {spec.name: spec for spec in app_topic_specs(app)}
    app_id = "p-forewarn-order-watcher"
    changelogs = {f"{app_id}-{table}-changelog" for table in ("order-state", "order-deadlines", "sku-demand",
                                                              "trouble-history")}
    assert changelogs <= set(specs)
    for name in changelogs:  # what Faust's own `Table.on_start` would declare
        assert name == app.tables[name.removeprefix(f"{app_id}-").removesuffix("-changelog")].changelog_topic_name
        assert specs[name].num_partitions == 4
        assert specs[name].topic_configs == {"cleanup.policy": "compact"}
    leader = specs[f"{app_id}-__assignor-__leader"]  # Faust's LeaderAssignor, private: pinned here
    assert leader.num_partitions == 1
    assert set(specs) == changelogs | {leader.name}


def test_a_new_table_is_never_forgotten(tmp_path: object) -> None:
    app = build_returns(_settings(tmp_path))
    before = {spec.name for spec in app_topic_specs(app)}
    app.Table("brand-new", default=None, partitions=4, key_type=str)
    after = {spec.name for spec in app_topic_specs(app)}
    assert after - before == {"p-forewarn-returns-brand-new-changelog"}


def test_no_leader_topic_when_faust_would_create_none(tmp_path: object) -> None:
    app = create_app("quiet", _settings(tmp_path), topic_disable_leader=True)
    assert app_topic_specs(app) == []


def test_an_agent_reading_a_topic_nobody_creates_is_refused_before_the_broker_is_asked(tmp_path: object) -> None:
    settings = _settings(tmp_path)
    app = create_app("stray", settings)

    @app.agent(raw_topic(app, "p-not-in-the-registry"))
    async def stray(stream: object) -> None:  # pragma: no cover - never started
        pass

    with pytest.raises(TopicLayoutError, match=r"p-not-in-the-registry \(.*stray\)"):
        asyncio.run(ensure_topics(settings, app=app))  # the broker address is unreachable: refused before


def test_topic_problems_tells_wrong_counts_from_topics_still_settling() -> None:
    wanted = [NewTopic("a", 4, 1), NewTopic("b", 4, 1), NewTopic("c", 4, 1), NewTopic("d", 4, 1)]
    ok = [{"error_code": 0, "partition": n, "leader": 1} for n in range(4)]
    described = [
        {"topic": "a", "error_code": 0, "partitions": ok},
        {"topic": "b", "error_code": 0, "partitions": ok[:1]},
        {"topic": "c", "error_code": 3, "partitions": []},
        {"topic": "d", "error_code": 0, "partitions": [*ok[:3], {"error_code": 5, "partition": 3, "leader": -1}]},
    ]
    wrong, unsettled = topic_problems(wanted, described)
    assert wrong == ["b has 1 partitions, needs 4"]
    assert unsettled == ["c (not listed yet)", "d (a partition has no leader yet)"]


def test_every_agent_of_a_service_crashes_the_app_when_it_raises(tmp_path: object) -> None:
    app = build_order_watcher(_settings(tmp_path))
    crash_on_agent_error(app)
    assert {agent.name.rsplit(".", 1)[-1] for agent in app.agents.values()} == {
        "watch_orders", "watch_stock", "escalate"}
    assert all(agent.supervisor_strategy is CrashingSupervisor for agent in app.agents.values())
