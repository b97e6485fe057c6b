"""`python -m services.gateway` as its own process: creates its topics, says it is ready, answers, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_gateway_runs_as_a_process(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    port = _free_port()
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "2", "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
           "FOREWARN_GATEWAY_PORT": str(port), "FOREWARN_GATEWAY_SHOPIFY_SECRET": "shpss_process_test_secret"}
    gateway = ServiceProcess("services.gateway", env, tmp_path).start(timeout=60)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/shopify", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310
        assert refused.value.code == 401

        async def topics() -> set[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
            await admin.start()
            try:
                return {name for name in await admin.list_topics() if name.startswith(topic_prefix)}
            finally:
                await admin.close()

        created = asyncio.run(topics())
        assert {f"{topic_prefix}gateway.dlq", f"{topic_prefix}orders", f"{topic_prefix}provider-events"} <= created
    finally:
        gateway.stop()
    assert gateway.proc is not None and gateway.proc.returncode == 0, gateway.log()[-2000:]
    assert "gateway ready" in gateway.log()
    assert "shpss_process_test_secret" not in gateway.log()
