"""SIGTERM ends every Faust service within 10 s: mid-stream, and with the broker gone.

These tests stop a broker, so they run their own (`KAFKA_PORT=19392`, under /tmp), never the
shared one. Checked that they can fail: on the code before the fix, order_watcher SIGTERMed with
its broker stopped waited for its producer flush and commit (tens of seconds) and the test saw
it alive after 10 s.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.events import order_placed
from tests.support.kafka_io import produce
from tests.support.notifier import incident_event
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BROKER_SH = ROOT / "deploy" / "kafka" / "broker.sh"
PORT = os.environ.get("FOREWARN_STOP_TEST_KAFKA_PORT", "19392")
BROKER_ENV = {**os.environ, "KAFKA_PORT": PORT, "FOREWARN_KAFKA_HOME": f"/tmp/kafka-{PORT}"}
STOP_WITHIN_S = 10.0
SERVICES = ("order_watcher", "returns", "notifier")


def _broker(command: str) -> None:
    done = subprocess.run([str(BROKER_SH), command], env=BROKER_ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def own_broker() -> Iterator[str]:
    """A broker of this module's own (it is stopped and started by the tests), wiped afterwards."""
    _broker("start")
    try:
        yield f"127.0.0.1:{PORT}"
    finally:
        _broker("wipe")


def _env(bootstrap: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "FOREWARN_TOPIC_PREFIX": prefix,
        "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'forewarn.db'}",
        "FOREWARN_TICK_INTERVAL_S": "0.5", "FOREWARN_NOTIFIER_PROVIDER_TIMEOUT_S": "1",
    }


def _traffic(bootstrap: str, prefix: str, stop: threading.Event) -> None:
    """Late orders and incidents until told to stop: every service has a batch in hand at SIGTERM."""
    now = datetime.now(UTC)
    n = 0

    async def run() -> None:
        nonlocal n
        while not stop.is_set():
            orders, incidents = [], []
            for _ in range(50):
                n += 1
                order = order_placed(f"ord-stop-{n}", placed_at=now - timedelta(hours=3), customer_id=f"cus-{n}")
                orders.append((order.key(), order.to_bytes()))
                incident = incident_event(f"inc-stop-{n}", at=now, order_id=f"ord-stop-{n}", customer_id=f"cus-{n}")
                incidents.append((incident.key(), incident.to_bytes()))
            try:
                await produce(bootstrap, f"{prefix}orders", orders)
                await produce(bootstrap, f"{prefix}incidents", incidents)
            except Exception:
                return  # the broker is going away: the stream has done its part

    asyncio.run(run())


def _seconds_to_exit(service: ServiceProcess) -> float:
    """Send SIGTERM and time the exit; SIGKILL (and fail) past the bar."""
    assert service.proc is not None and service.proc.poll() is None, service.log()[-3000:]
    started = time.monotonic()
    service.proc.terminate()
    try:
        service.proc.wait(STOP_WITHIN_S + 20)
    except subprocess.TimeoutExpired:
        service.kill()
    return time.monotonic() - started


@pytest.mark.parametrize("module", SERVICES)
def test_sigterm_mid_stream_and_with_the_broker_gone(
    module: str, own_broker: str, topic_prefix: str, tmp_path: Path
) -> None:
    _broker("start")
    env = _env(own_broker, topic_prefix, tmp_path)
    service = ServiceProcess(f"services.{module}", env, tmp_path)

    service.start()
    stop = threading.Event()
    feeder = threading.Thread(target=_traffic, args=(own_broker, topic_prefix, stop), daemon=True)
    feeder.start()
    time.sleep(3)  # batches in hand
    mid_stream = _seconds_to_exit(service)
    stop.set()
    feeder.join(30)
    assert mid_stream < STOP_WITHIN_S, f"{module} took {mid_stream:.1f}s mid-stream:\n{service.log()[-3000:]}"

    service.start()
    stop = threading.Event()
    feeder = threading.Thread(target=_traffic, args=(own_broker, topic_prefix, stop), daemon=True)
    feeder.start()
    time.sleep(3)  # a backlog: the service is still mid-stream when the broker goes
    stop.set()
    feeder.join(30)
    _broker("stop")
    time.sleep(2)  # the service notices the broker is gone
    broker_gone = _seconds_to_exit(service)
    _broker("start")
    assert broker_gone < STOP_WITHIN_S, f"{module}: {broker_gone:.1f}s with the broker gone:\n{service.log()[-3000:]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hold_a_request(port: int, path: str) -> socket.socket:
    """A client that sends a request's headers and half its body, then waits: a handler in flight."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   f"Content-Length: 4096\r\n\r\n{{\"id\": ".encode())
    return client


WEB_SERVICES: dict[str, tuple[dict[str, str], str]] = {
    # module: (environment of its own, "{port}" filled in; the path a held request goes to)
    "gateway": ({"FOREWARN_GATEWAY_PORT": "{port}", "FOREWARN_GATEWAY_SHOPIFY_SECRET": "shpss_stop_test_secret"},
                "/webhooks/shopify"),
    "dashboard": ({"FOREWARN_DASHBOARD_PORT": "{port}", "FOREWARN_DASHBOARD_TOKEN": "stop-test-token-0123456789abcdef"},
                  "/"),
}


@pytest.mark.parametrize("module", sorted(WEB_SERVICES))
def test_sigterm_with_a_request_in_flight_and_with_the_broker_gone(
    module: str, own_broker: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The web services too: a client holding a request open must not hold the stop (aiohttp waits 60 s)."""
    _broker("start")
    own_env, path = WEB_SERVICES[module]
    port = _free_port()
    env = {**_env(own_broker, topic_prefix, tmp_path), **{k: v.format(port=port) for k, v in own_env.items()}}
    service = ServiceProcess(f"services.{module}", env, tmp_path)

    service.start()
    held = _hold_a_request(port, path)
    time.sleep(1)  # the request is in the handler, waiting for the rest of its body
    in_flight = _seconds_to_exit(service)
    held.close()
    assert in_flight < STOP_WITHIN_S, f"{module}: {in_flight:.1f}s with a request in flight:\n{service.log()[-3000:]}"

    service.start()
    _broker("stop")
    held = _hold_a_request(port, path)
    time.sleep(2)  # the service notices the broker is gone
    broker_gone = _seconds_to_exit(service)
    held.close()
    _broker("start")
    assert broker_gone < STOP_WITHIN_S, f"{module}: {broker_gone:.1f}s with the broker gone:\n{service.log()[-3000:]}"
