"""Plan + render manifest -> a pytest-testinfra suite for one target, and its run.

The suite is generated as data (hosts.json) beside two fixed modules shipped here; only the
testinfra hostspec differs between the lab (trunkline-lab://) and servers (ssh://).
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from trunkline.center import Center
from trunkline.plan.topology import MEDIA_SIP_PORT, RTP_PORTS, Plan
from trunkline.roles import processes

HERE = Path(__file__).parent


def _certificate_path(tree: Path, host: str) -> str:
    """Where the rendered tls.cfg says the server certificate is."""
    cfg = tree / host / "etc" / "kamailio" / "tls.cfg"
    for line in cfg.read_text().splitlines() if cfg.exists() else []:
        if line.strip().startswith("certificate"):
            return line.split("=", 1)[1].strip()
    return f"/etc/kamailio/tls/{host}.crt"


def _params(element: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in element.iter("param")}


def _freeswitch_expected(tree: Path, host: str) -> dict:
    """What FreeSWITCH on a media node must have loaded, read from its rendered files: each SIP
    profile's URI, the queues, the number of agents and the tiers per queue, the event socket port."""
    conf = tree / host / "etc" / "freeswitch"
    profiles = {}
    for f in sorted((conf / "sip_profiles").glob("*.xml")):
        root = ET.parse(f).getroot()
        p = _params(root)
        profiles[root.get("name")] = f"sip:mod_sofia@{p['sip-ip']}:{p['sip-port']}"
    cc = ET.parse(conf / "autoload_configs" / "callcenter.conf.xml").getroot()
    queues = [q.get("name").split("@")[0] for q in cc.iter("queue")]
    tiers = {q: 0 for q in queues}
    for tier in cc.iter("tier"):
        tiers[tier.get("queue").split("@")[0]] += 1
    esl = _params(ET.parse(conf / "autoload_configs" / "event_socket.conf.xml").getroot())
    return {"profiles": profiles, "queues": queues, "agents": len(list(cc.iter("agent"))), "tiers": tiers,
            "event_socket_port": int(esl["listen-port"])}


def suite_spec(plan: Plan, tree: Path, target: str, hostspec: Callable[[str], str], secrets_resolved: bool,
               freeswitch: bool = True) -> dict:
    """`freeswitch`: the media nodes run FreeSWITCH (False only for a lab with the SIPp stand-in)."""
    manifest = json.loads((tree / "manifest.json").read_text())
    hosts = {}
    for h in plan.hosts:
        trunks_here = [t for t in plan.trunks if h.site in t.sites]
        hosts[h.name] = {
            "hostspec": hostspec(h.name), "role": h.role, "site": h.site, "address": h.address,
            "interface": h.interface, "processes": processes(h, target, stand_in=not freeswitch),
            "tls": any(t.transport == "tls" for t in trunks_here), "certificate": _certificate_path(tree, h.name),
            "files": [{k: e[k] for k in ("path", "sha256", "owner", "group", "mode", "secrets")}
                      for e in manifest["files"] if e["host"] == h.name],
            "freeswitch": _freeswitch_expected(tree, h.name) if h.role == "media" and freeswitch else None,
        }
    pairs = {s.name: {"vip": s.vip, "proxies": s.proxies} for s in plan.sites if s.ha == "pair"}
    return {"center": plan.center, "target": target, "hosts": hosts, "pairs": pairs, "rtp_ports": list(RTP_PORTS),
            "media_port": MEDIA_SIP_PORT, "secrets_resolved": secrets_resolved}


def write_suite(spec: dict, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "hosts.json").write_text(json.dumps(spec, indent=2, sort_keys=True))
    shutil.copy(HERE / "suite_conftest.py", out / "conftest.py")
    shutil.copy(HERE / "suite_tests.py", out / f"test_{spec['center'].replace('-', '_')}.py")
    (out / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return out


@dataclass
class VerifyResult:
    exit_code: int
    suite: str
    junit: str | None
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def run_suite(suite: Path, junit: Path | None = None, echo: bool = True, extra: list[str] = ()) -> VerifyResult:
    argv = [sys.executable, "-m", "pytest", str(suite), "-c", str(suite / "pytest.ini"), "--rootdir", str(suite), "-q", "-rfE", *extra]
    if junit:
        argv += ["--junitxml", str(junit)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=suite)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if echo:
            sys.stderr.write(line)
    proc.wait()
    return VerifyResult(proc.returncode, str(suite), str(junit) if junit else None, "".join(lines))


def verify_lab(center: str, junit: Path | None = None, echo: bool = True, extra: list[str] = ()) -> VerifyResult:
    from trunkline.targets.lab import LabError, LabState

    state = LabState.load(center)
    if not state or not state.ready:
        raise LabError(f"the lab of {center} is not up; run trunkline up BLUEPRINT first")
    # the placed tree: the render with the lab's secret values, so every file is compared byte for byte
    spec = suite_spec(state.plan(), state.placed_dir(), "lab", lambda h: f"trunkline-lab://{h}?namespace={center}", secrets_resolved=False,
                      freeswitch=getattr(state, "media", "sipp") == "freeswitch")
    suite = write_suite(spec, state.dir / "verify")
    return run_suite(suite, junit, echo, extra)


def verify_onprem(center: Center, junit: Path | None = None, echo: bool = True, extra: list[str] = ()) -> VerifyResult:
    """The same suite over SSH, reading how to reach each host from inventories/<center>/."""
    from trunkline.errors import UsageError
    from trunkline.targets.inventory import read_ssh_targets

    plan = center.plan
    inventory = Path("inventories") / plan.center
    if not inventory.exists():
        raise UsageError(f"{inventory} does not exist; write it with trunkline inventory {center.source}")
    targets = read_ssh_targets(inventory)
    work = Path(".trunkline") / "verify" / plan.center
    center.render(work / "render")
    spec = suite_spec(plan, work / "render", "onprem", lambda h: targets[h].testinfra_spec(), secrets_resolved=True)
    suite = write_suite(spec, work / "suite")
    return run_suite(suite, junit, echo, extra)
