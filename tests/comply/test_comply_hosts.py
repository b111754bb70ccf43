"""Live host controls through testinfra's local:// backend: crafted trees and real TLS listeners on loopback
(host_cases.yaml); the evaluator's handling of hosts that cannot be reached; the --live hook."""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import testinfra

from comply_cases import blueprint_text, case_id, load_cases
from trunkline.center import load as load_center
from trunkline.comply.evaluate import compliance_report
from trunkline.comply.findings import NotApplicable
from trunkline.comply import registry
from trunkline.comply.hosts import live_connection, logrotate_days, openssl_probe, systemd_timespan
from trunkline.comply.packs import control_by_id
from trunkline.errors import UsageError

CASES = load_cases("host_cases.yaml")
OPENSSL = shutil.which("openssl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tls_server(tmp: Path, min_protocol: str, weak: bool = False, cipher: str | None = None):
    """openssl s_server on 127.0.0.1 with a throwaway certificate; stopped (by its pid) on exit."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=trunkline-test", "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
    port = _free_port()
    argv = [OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-key", key, "-cert", cert, "-min_protocol", min_protocol, "-quiet"]
    if weak:  # a deliberately weakened listener: TLS 1.0 needs the legacy security level on this side too
        argv += ["-cipher", "DEFAULT@SECLEVEL=0"]
    if cipher:  # a listener with its own cipher string (e.g. one that still takes NULL ciphers)
        argv += ["-cipher", cipher]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def sip_server(answers: dict[str, list[int]], ban_after: int = 0, bans: Path | None = None):
    """A UDP SIP stand-in on 127.0.0.1: answers each method with its status codes (none: silent); with
    ban_after, a source that sends more than that many requests is written to `bans`, as pike would ban it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()
    seen: dict[str, int] = {}

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                continue
            method = data.split(b" ", 1)[0].decode()
            seen[peer[0]] = seen.get(peer[0], 0) + 1
            if ban_after and seen[peer[0]] > ban_after and bans is not None:
                bans.write_text(f"ipban: {peer[0]} = 1\n")
            for code in answers.get(method, []):
                sock.sendto(f"SIP/2.0 {code} Stand-in\r\nContent-Length: 0\r\n\r\n".encode(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


def _build(root: Path, tree: list[dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        path = root / entry["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if "content" in entry:
            path.write_text(entry["content"])
        else:
            path.mkdir(exist_ok=True)
        if "mode" in entry:
            os.chmod(path, int(entry["mode"], 8))


def run_case(case: dict, tmp_path: Path):
    bp = tmp_path / "center.yaml"
    bp.write_text(blueprint_text(case))
    plan = load_center(bp).plan
    control = control_by_id(case["control"])
    fn = registry.lookup("hosts", control.check)
    params = dict(control.params)
    root = tmp_path / "root"
    _build(root, case.get("tree", []))
    if "root" in inspect.signature(fn).parameters:
        params["root"] = str(root)
    host = testinfra.get_host("local://")
    params.update({k: (v.replace("{root}", str(root)) if isinstance(v, str) else v) for k, v in (case.get("params") or {}).items()})
    if "vantage" in inspect.signature(fn).parameters:  # this machine stands for the carrier's or the stranger's side
        params["vantage"] = lambda kind, plan_host: (host, "127.0.0.1")
    sip = case.get("sip_server")
    if sip:
        with sip_server(sip.get("answers", {}), sip.get("ban_after", 0), root / "bans") as port:
            return fn(host, plan.host(case["host"]), plan, **params, address="127.0.0.1", port=port)
    server = case.get("tls_server")
    if server and server.get("absent"):
        return fn(host, plan.host(case["host"]), plan, **params, address="127.0.0.1", port=_free_port())
    if server:
        with tls_server(tmp_path, server["min_protocol"], server.get("weak", False), server.get("cipher")) as port:
            return fn(host, plan.host(case["host"]), plan, **params, address="127.0.0.1", port=port)
    return fn(host, plan.host(case["host"]), plan, **params)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_host_case_gives_its_status(case, tmp_path):
    result = run_case(case, tmp_path)
    status = "skip" if isinstance(result, NotApplicable) else ("fail" if result else "pass")
    assert status == case["expect"], result
    if status != "fail":
        return
    matching = [f for f in result if case["message"] in f.message and case.get("command", "") in f.place.command]
    assert matching, [(f.place.command, f.message) for f in result]
    assert matching[0].place.kind == "host" and matching[0].place.host == case["host"]
    assert str(matching[0].place).startswith(f"{case['host']}: ")


def test_the_tls_probe_lowers_the_client_security_level_only_for_old_versions():
    assert "-tls1 -cipher DEFAULT@SECLEVEL=0" in openssl_probe("10.1.0.10", 5061, "1.0")
    assert "-tls1_1 -cipher DEFAULT@SECLEVEL=0" in openssl_probe("10.1.0.10", 5061, "1.1")
    assert "SECLEVEL" not in openssl_probe("10.1.0.10", 5061, "1.2")
    assert "[2001:db8::1]:5061" in openssl_probe("2001:db8::1", 5061, "1.2")


@pytest.mark.parametrize("text, seconds", [("180d", 180 * 86400), ("6month", 6 * 2629800), ("1y 2w", 31557600 + 2 * 604800),
                                           ("3600", 3600), ("infinity", None), ("0", None)])
def test_systemd_time_spans_are_read_as_systemd_does(text, seconds):
    assert systemd_timespan(text) == seconds


def test_a_logrotate_rule_for_another_file_does_not_count():
    assert logrotate_days(["/var/log/kern.log {\n  rotate 52\n  weekly\n}\n"], "/var/log/syslog") is None


class _Unreachable:
    """A testinfra-like host whose every command fails, as a host that does not answer."""

    def run(self, *args, **kwargs):
        raise ConnectionError("no route to host")

    def file(self, *args, **kwargs):
        raise ConnectionError("no route to host")


def test_a_host_that_cannot_be_reached_is_an_error_not_a_pass(tmp_path):
    bp = tmp_path / "center.yaml"
    bp.write_text(blueprint_text({}))
    report = compliance_report(load_center(bp), ["mlps-3"], connect=lambda h: _Unreachable(), live="lab")
    result = report.result("mlps-3/live-log-retention")
    assert result.status == "error" and "fra1-sip1: ConnectionError: no route to host" in result.reason
    assert report.failed


def test_host_controls_are_skipped_without_live(tmp_path):
    bp = tmp_path / "center.yaml"
    bp.write_text(blueprint_text({}))
    result = compliance_report(load_center(bp), ["mlps-3"]).result("mlps-3/live-log-retention")
    assert result.status == "skip" and "--live" in result.reason


def test_live_targets_that_cannot_be_reached_are_bad_input(tmp_path):
    bp = tmp_path / "center.yaml"
    bp.write_text(blueprint_text({}))
    with pytest.raises(UsageError, match="live checks need a running target"):
        live_connection("lab", load_center(bp).plan)


def test_hosts_the_target_does_not_run_are_left_out_not_failed(tmp_path):
    bp = tmp_path / "center.yaml"
    bp.write_text(blueprint_text({}))
    only = "fra1-sip1"
    report = compliance_report(load_center(bp), ["mlps-3"], live="lab",
                               connect=lambda h: _Unreachable() if h.name == only else None)
    result = report.result("mlps-3/live-log-retention")
    assert result.status == "error" and result.reason.count(": ConnectionError") == 1 and only in result.reason
