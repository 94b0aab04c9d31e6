"""A real Prometheus server scrapes a running relay's /metrics.

Starts `gamerelay serve --metrics-port`, forwards one DATA datagram through it
(the full create / join / BIND / forward exchange), starts Debian's
`prometheus` on loopback with a 1 s scrape interval, and asks Prometheus's
HTTP API for `gamerelay_datagrams_forwarded_total`. `run.sh` installs
prometheus; the relay binary comes from the `relay_binary` fixture.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from conftest import require_tool
from relayproto import RelayProcess, full_exchange


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, expression: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=2) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_forwarded_datagrams(relay_binary, tmp_path):
    prometheus = require_tool("prometheus", "Debian package prometheus")
    metrics_port = free_port()
    relay = RelayProcess([str(relay_binary), "serve", "--host", "127.0.0.1", "--port", "0",
                          "--metrics-port", str(metrics_port)])
    prom = None
    try:
        host, port = RelayProcess.split_address(relay.listening["control"])
        seen = full_exchange(host, port)
        assert seen["forwarded"]

        prom_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: gamerelay\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        prom = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        value = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert prom.poll() is None, prom.stderr.read().decode(errors="replace")[-2000:]
            try:
                # Summed: each data-plane loop exports its own series (label `loop`).
                result = query(prom_port, 'sum(gamerelay_datagrams_forwarded_total{job="gamerelay"})')
            except OSError:
                result = []
            if result:
                value = float(result[0]["value"][1])
                if value > 0:
                    break
            time.sleep(0.5)
        print(f"Prometheus: sum(gamerelay_datagrams_forwarded_total{{job=\"gamerelay\"}}) = {value}")
        assert value == 1.0, f"Prometheus should have scraped 1 forwarded datagram, got {value}"
        up = query(prom_port, 'up{job="gamerelay"}')
        assert up and float(up[0]["value"][1]) == 1.0, up
        for control in seen["controls"]:
            control.close()
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
        relay.kill()
