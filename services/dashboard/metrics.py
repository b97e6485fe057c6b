"""Prometheus figures of the dashboard: topic sizes and rates, consumer lag, ledger states, request counts.

The panels write the figures they last read into `Figures`; a scrape of /metrics refreshes them
first, and `FiguresCollector` turns them into gauges. Each app has its own registry, so two
dashboards in one process (tests) do not share counters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = ["Figures", "FiguresCollector", "Instruments", "build_instruments"]


@dataclass
class Figures:
    """What the panels last read, and whether each source answered the last time it was asked."""

    topics: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    lag: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    up: dict[str, bool] = field(default_factory=dict)


class FiguresCollector(Collector):
    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        up = GaugeMetricFamily("forewarn_dashboard_source_up", "Whether a source answered the dashboard's last read",
                               labels=["source"])
        for source, answered in sorted(figures.up.items()):
            up.add_metric([source], 1.0 if answered else 0.0)
        yield up
        end = GaugeMetricFamily("forewarn_topic_end_offset", "Sum of the end offsets of a topic's partitions",
                                labels=["topic"])
        held = GaugeMetricFamily("forewarn_topic_messages", "Messages a topic holds now", labels=["topic"])
        rate = GaugeMetricFamily("forewarn_topic_rate", "Messages per second written to a topic recently",
                                 labels=["topic"])
        for row in figures.topics:
            if row["exists"]:
                end.add_metric([row["topic"]], float(row["end_offset"]))
                held.add_metric([row["topic"]], float(row["messages"]))
                if row["rate_per_s"] is not None:
                    rate.add_metric([row["topic"]], float(row["rate_per_s"]))
        yield from (end, held, rate)
        lag = GaugeMetricFamily("forewarn_consumer_lag", "Records a service's consumer group has still to read",
                                labels=["service", "group", "topic"])
        for row in figures.lag:
            lag.add_metric([row["service"], row["group"], row["topic"]], float(row["lag"]))
        yield lag
        total = GaugeMetricFamily("forewarn_consumer_lag_total", "Records a service's group has still to read, "
                                  "over all its topics", labels=["service", "group"])
        for row in figures.groups:
            total.add_metric([row["service"], row["group"]], float(row["total_lag"]))
        yield total
        states = GaugeMetricFamily("forewarn_ledger_deliveries", "Ledger rows per delivery state", labels=["state"])
        for state, count in sorted(figures.states.items()):
            states.add_metric([state], float(count))
        yield states


@dataclass(frozen=True)
class Instruments:
    registry: CollectorRegistry
    figures: Figures
    requests: Counter


def build_instruments() -> Instruments:
    registry = CollectorRegistry()
    figures = Figures()
    registry.register(FiguresCollector(figures))
    ProcessCollector(registry=registry)
    requests = Counter("forewarn_dashboard_requests", "Requests served by the dashboard", ["route", "status"],
                       registry=registry)
    return Instruments(registry, figures, requests)
