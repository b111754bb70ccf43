"""The lab: a center's hosts as network namespaces on this machine, running the real programs.

Layout for center C (all of it made, recorded and removed by trunkline):

  tl-C-core            one namespace that is the sites' network: a bridge per site holding
                       the site gateway (.1), routes between sites, a point-to-point link per
                       carrier. The machine's own namespace gets no address, route or bridge.
  tl-C-<host>          one per host of the plan, `eth0` on its site bridge, addressed from the plan.
  tl-C-carrier-<trunk> one per trunk, holding the trunk's peer addresses; SIPp calls from here.
  tl-C-stranger        an address that is no trunk's peer (STRANGER), routed to every site like a
                       carrier: what a scanner on the internet would send from.

Each host also gets a mount namespace in which /etc and /var are overlays (the rendered files
are placed at their server paths, with their owners and modes) and /run, /tmp are its own
tmpfs: every program reads exactly the rendered bytes at the paths it would on a server, and
nothing is written to the machine's /etc or /var.

Processes start in their own session, so the lab outlives `trunkline up`; their PIDs and start
times are in the state file, and `down` ends exactly those (a PID whose start time differs is
someone else's and is left alone). State is written before each resource is made, so `down`
cleans up after a crash or a `kill -9` of trunkline itself.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from trunkline.center import Center
from trunkline.errors import TrunklineError
from trunkline.plan.topology import MEDIA_SIP_PORT, Host, Plan

STATE_ROOT = Path(os.environ.get("TRUNKLINE_STATE", ".trunkline")) / "lab"
RUN_ROOT = Path("/run/trunkline")
KAMAILIO_DROPIN = "/etc/systemd/system/kamailio.service.d/trunkline.conf"
LAB_MAX_MEDIA = 2  # media nodes per site in the lab: SIPp stand-ins, two show the failover
SIPP_DIR = Path(__file__).parent / "sipp"
# SIPp's socket buffers (its default is 64 KB): at a few thousand calls/s the carrier's and the media
# nodes' sockets overflowed (UdpRcvbufErrors in their namespaces) while Kamailio's did not, which
# measured the load generator instead of the edge. The kernel caps it at net.core.rmem_max.
SIPP_SOCKET_BUFFER = 4 << 20
# the lab's state folder as each host sees it: its own /tmp and /run hide wherever the state lives
LAB_SRC = "/run/trunkline-lab"
STRANGER = "192.0.2.66"  # the stranger namespace's address: no trunk's peer, documentation range
PROGRAMS = {"kamailio": "kamailio", "keepalived": "keepalived", "rtpengine": "rtpengine-daemon", "sipp": "sip-tester",
"openssl": "openssl", "nsenter": "util-linux"}


class LabError(TrunklineError):
    exit_code = 1


# --- state ----------------------------------------------------------------------------------


@dataclass
class Proc:
    host: str
    name: str
    pid: int
    start: int  # /proc/<pid>/stat field 22: tells a recycled PID from ours
    argv: list[str]
    log: str


@dataclass
class LabState:
    center: str
    blueprint: str = ""
    namespaces: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # persistent mount-namespace files
    run_dir: str = ""
    processes: list[Proc] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)
    ready: bool = False

    @property
    def dir(self) -> Path:
        return (STATE_ROOT / self.center).resolve()  # absolute: the hosts' mount namespaces read from it

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, center: str) -> "LabState | None":
        path = STATE_ROOT / center / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [Proc(**p) for p in data.get("processes", [])]
        return cls(**data)

    def plan(self) -> Plan:
        return Plan.model_validate_json((self.dir / "plan.json").read_text())

    def render_dir(self) -> Path:
        return self.dir / "render"


def lab_centers() -> list[str]:
    return sorted(p.name for p in STATE_ROOT.glob("*") if (p / "state.json").exists())


# --- names ----------------------------------------------------------------------------------


def ns_name(center: str, host: str) -> str:
    return f"tl-{center}-{host}"


def core_ns(center: str) -> str:
    return f"tl-{center}-core"


def carrier_ns(center: str, trunk: str) -> str:
    return f"tl-{center}-carrier-{trunk}"


def stranger_ns(center: str) -> str:
    return f"tl-{center}-stranger"


def mount_file(center: str, host: str) -> Path:
    return RUN_ROOT / center / "mnt" / host


def host_run_dir(center: str, host: str) -> Path:
    return RUN_ROOT / center / "hosts" / host


# --- low-level helpers ----------------------------------------------------------------------


def _run(argv: list[str], check: bool = True, timeout: float = 30, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        shown = " ".join(argv) if len(" ".join(argv)) < 300 else " ".join(argv)[:300] + " ..."
        raise LabError(f"{shown}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(["ip", *args], check=check)


def in_host(center: str, host: str, argv: list[str], wd: str = "/tmp") -> list[str]:
    """argv as run inside a lab host: its network and mount namespaces, working in its own /tmp."""
    return ["nsenter", f"--net=/run/netns/{ns_name(center, host)}", f"--mount={mount_file(center, host)}", f"--wdns={wd}", "--", *argv]


def in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _start_time(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(p: Proc) -> bool:
    return _start_time(p.pid) == p.start


def require_privileges() -> None:
    """Namespaces, veths and mounts need CAP_NET_ADMIN and CAP_SYS_ADMIN: stop at once without them."""
    caps = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            caps = int(line.split()[1], 16)
    missing = [name for bit, name in ((12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN")) if not caps >> bit & 1]
    if missing:
        raise LabError(
            f"the lab needs {' and '.join(missing)} to create network namespaces and mounts; "
            "run it as root (e.g. sudo trunkline up BLUEPRINT)"
        )


def missing_programs() -> list[str]:
    out = []
    for exe, pkg in PROGRAMS.items():
        if not (shutil.which(exe) or Path(f"/usr/sbin/{exe}").exists() or Path(f"/usr/bin/{exe}").exists()):
            out.append(f"{exe} (Debian package {pkg})")
    return out


# --- scale-down -----------------------------------------------------------------------------


def lab_overrides(plan: Plan) -> tuple[list[str], list[str]]:
    """--set overrides that fit a plan on one machine, and the sentences that say so."""
    sets, said = [], []
    for i, site in enumerate(plan.sites):
        if site.media_nodes > LAB_MAX_MEDIA:
            sets.append(f"spec.sites[{i}].media.nodes={LAB_MAX_MEDIA}")
            said.append(f"site {site.name}: {site.media_nodes} media nodes planned, {LAB_MAX_MEDIA} in the lab "
                        f"(rule: at most {LAB_MAX_MEDIA} media nodes per site)")
    return sets, said


# --- certificates (a throwaway CA for the lab) ----------------------------------------------


def make_lab_pki(plan: Plan, out: Path) -> None:
    """ca.crt plus <host>.crt/.key for every SIP proxy, the VIP and the host address as SANs."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"trunkline lab CA ({plan.center})")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (out / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # the carriers' CAs that trunks declare (tls.ca: file:...), one bundle as the tls role places it
    cas = [Path(t.tls_ca_ref.removeprefix("file:")).read_bytes() for t in plan.trunks if t.tls_ca_ref]
    if cas:
        (out / "carriers-ca.crt").write_bytes(b"".join(c if c.endswith(b"\n") else c + b"\n" for c in cas))
    for host in plan.hosts:
        if host.role != "sip-proxy":
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(host.name), x509.IPAddress(ipaddress.ip_address(host.address))]
        if host.ha:
            sans.append(x509.IPAddress(ipaddress.ip_address(host.ha.vip)))
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host.name)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(ca_key, hashes.SHA256()))
        (out / f"{host.name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (out / f"{host.name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


# --- network --------------------------------------------------------------------------------


def _add_ns(state: LabState, name: str) -> None:
    state.namespaces.append(name)
    state.save()
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")


def build_network(state: LabState, plan: Plan) -> None:
    c = plan.center
    core = core_ns(c)
    _add_ns(state, core)
    _run(in_ns(core, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]))
    for i, site in enumerate(plan.sites):
        br = f"br{i}"
        _ip("-n", core, "link", "add", br, "type", "bridge")
        _ip("-n", core, "addr", "add", f"{site.gateway}/{site.cidr.split('/')[1]}", "dev", br)
        _ip("-n", core, "link", "set", br, "up")
    for j, host in enumerate(plan.hosts):
        ns = ns_name(c, host.name)
        _add_ns(state, ns)
        br = f"br{[s.name for s in plan.sites].index(host.site)}"
        peer = f"h{j}"
        _ip("-n", core, "link", "add", peer, "type", "veth", "peer", "name", host.interface, "netns", ns)
        _ip("-n", core, "link", "set", peer, "master", br, "up")
        _ip("-n", ns, "addr", "add", f"{host.address}/{host.prefix}", "dev", host.interface)
        _ip("-n", ns, "link", "set", host.interface, "up")
        _ip("-n", ns, "route", "add", "default", "via", plan.site(host.site).gateway)
        if host.role == "sip-proxy":
            # the backup proxy listens on the VIP before it holds it
            _run(in_ns(ns, ["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"]))
    for k, trunk in enumerate(plan.trunks):
        ns = carrier_ns(c, trunk.name)
        _add_ns(state, ns)
        link, gw = f"c{k}", f"169.254.{k + 1}.1"
        _ip("-n", core, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", core, "addr", "add", f"{gw}/32", "dev", link)
        _ip("-n", core, "link", "set", link, "up")
        for peer in trunk.peers:
            _ip("-n", ns, "addr", "add", f"{peer}/32", "dev", "eth0")
            _ip("-n", core, "route", "add", f"{peer}/32", "dev", link)
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", gw, "dev", "eth0")
        _ip("-n", ns, "route", "add", "default", "via", gw, "src", trunk.peers[0])
    # a stranger: reaches every site as a carrier does, from an address no trunk lists
    ns = stranger_ns(c)
    _add_ns(state, ns)
    gw = "169.254.255.1"
    _ip("-n", core, "link", "add", "x0", "type", "veth", "peer", "name", "eth0", "netns", ns)
    _ip("-n", core, "addr", "add", f"{gw}/32", "dev", "x0")
    _ip("-n", core, "link", "set", "x0", "up")
    _ip("-n", core, "route", "add", f"{STRANGER}/32", "dev", "x0")
    _ip("-n", ns, "addr", "add", f"{STRANGER}/32", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")
    _ip("-n", ns, "route", "add", gw, "dev", "eth0")
    _ip("-n", ns, "route", "add", "default", "via", gw, "src", STRANGER)


# --- hosts' file systems --------------------------------------------------------------------


def _ensure_private_run_root(state: LabState) -> None:
    """Persistent mount namespaces are bind-mounted on files, which needs a private mount."""
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    mounts = Path("/proc/self/mountinfo").read_text()
    if f" {RUN_ROOT} " not in mounts:
        _run(["mount", "--bind", str(RUN_ROOT), str(RUN_ROOT)])
        _run(["mount", "--make-private", str(RUN_ROOT)])


def build_filesystems(state: LabState, plan: Plan) -> None:
    c = plan.center
    _ensure_private_run_root(state)
    state.run_dir = str(RUN_ROOT / c)
    state.save()
    manifest = json.loads((state.render_dir() / "manifest.json").read_text())
    for host in plan.hosts:
        base = host_run_dir(c, host.name)
        for d in ("etc.upper", "etc.work", "var.upper", "var.work"):
            (base / d).mkdir(parents=True, exist_ok=True)
        mnt = mount_file(c, host.name)
        mnt.parent.mkdir(parents=True, exist_ok=True)
        mnt.touch()
        state.mounts.append(str(mnt))
        state.save()
        _run(["unshare", f"--mount={mnt}", "--propagation", "private", "true"])
        setup = " && ".join([
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={base}/etc.upper,workdir={base}/etc.work /etc",
            f"mount -t overlay overlay -o lowerdir=/var,upperdir={base}/var.upper,workdir={base}/var.work /var",
            "mount -t tmpfs -o mode=0755 tmpfs /run",
            # the state folder (render tree, lab PKI, SIPp scenarios), read-only, before /tmp is hidden
            f"mkdir -p {LAB_SRC} && mount --bind '{state.dir}' {LAB_SRC} && mount -o remount,bind,ro {LAB_SRC}",
            "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        ])
        _run(["nsenter", f"--mount={mnt}", "--", "sh", "-c", setup])
        _place_files(c, host, [e for e in manifest["files"] if e["host"] == host.name])


def _place_files(center: str, host: Host, entries: list[dict]) -> None:
    """Install the rendered files at their paths with their owners and modes (what the roles do)."""
    script = ["set -e"]
    for user in sorted({e["owner"] for e in entries} | {e["group"] for e in entries} | {"trunkline-rec"}):
        # users the packages would create; made in this host's overlay /etc only
        script.append(f"getent group {user} >/dev/null || groupadd --system {user}")
        script.append(f"getent passwd {user} >/dev/null || useradd --system --no-create-home -g {user} -s /usr/sbin/nologin {user}")
    for e in entries:
        src = f"{LAB_SRC}/render/{host.name}{e['path']}"
        script.append(f"install -D -o {e['owner']} -g {e['group']} -m {e['mode']} '{src}' '{e['path']}'")
    if host.role == "sip-proxy":
        script.append("install -d -o root -g kamailio -m 0750 /etc/kamailio/tls")
        for name, mode in (("ca.crt", "0644"), (f"{host.name}.crt", "0644"), (f"{host.name}.key", "0640")):
            script.append(f"install -o root -g kamailio -m {mode} '{LAB_SRC}/pki/{name}' /etc/kamailio/tls/{name}")
        script.append(f"[ ! -f '{LAB_SRC}/pki/carriers-ca.crt' ] || install -o root -g kamailio -m 0644 '{LAB_SRC}/pki/carriers-ca.crt' /etc/kamailio/tls/carriers-ca.crt")
        script.append("install -d -o kamailio -g kamailio -m 0750 /run/kamailio")
    if any(e["path"].startswith("/etc/tmpfiles.d/") for e in entries):
        # what systemd does at boot: make the folders the rendered tmpfiles.d entries name
        script.append("systemd-tmpfiles --create /etc/tmpfiles.d/*.conf")
    _run(in_host(center, host.name, ["sh", "-c", "\n".join(script)]), timeout=60)


# --- processes ------------------------------------------------------------------------------


def spawn(state: LabState, host: str, name: str, argv: list[str]) -> Proc:
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{host}.{name}.log"
    cmd = in_host(state.center, host, argv)
    with open(log, "ab") as fh:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
    proc = Proc(host=host, name=name, pid=p.pid, start=_start_time(p.pid), argv=argv, log=str(log))
    state.processes.append(proc)
    state.save()
    return proc


def _unit_lines(center: str, host: str, *paths: str) -> list[tuple[str, str]]:
    """KEY=VALUE lines of a unit file and its drop-ins (or of an environment file) as the host has
    them, in the order given."""
    out = []
    for path in paths:  # one read each: a file without a final newline must not run into the next
        text = _run(in_host(center, host, ["cat", path]), check=False).stdout
        out += [(k.strip(), v.strip()) for k, sep, v in (line.partition("=") for line in text.splitlines())
                if sep and k.strip() and not k.lstrip().startswith(("#", ";"))]
    return out


def _unit_umask(center: str, host: str, dropin: str) -> str:
    values = [v for k, v in _unit_lines(center, host, dropin) if k == "UMask"]
    return values[-1] if values else "0022"


def _unit_command(center: str, host: str, unit: str, dropin: str) -> tuple[list[str], dict[str, str]]:
    """The ExecStart systemd would run for `unit` (the packaged unit, then the rendered drop-in),
    its variables expanded from Environment= and EnvironmentFile= as systemd does: "$VAR" alone
    becomes its words, "${VAR}" one word. Also the unit's User/Group."""
    lines = _unit_lines(center, host, f"/lib/systemd/system/{unit}", dropin)
    env: dict[str, str] = {}
    for k, v in lines:
        if k == "Environment":
            env.update(a.split("=", 1) for a in shlex.split(v) if "=" in a)
    for k, v in lines:  # EnvironmentFile= wins over Environment=, whatever the order
        if k == "EnvironmentFile" and not any(c in v for c in "*?["):  # no globbed folders rendered
            env.update((a, b.strip("\"'")) for a, b in _unit_lines(center, host, v.lstrip("-")))
    exec_start = ""
    for k, v in lines:
        if k == "ExecStart":
            exec_start = v  # an empty ExecStart= in a drop-in resets the packaged one
    if not exec_start:
        raise LabError(f"{host}: no ExecStart for {unit} in its unit or {dropin}")
    argv: list[str] = []
    for word in shlex.split(exec_start):
        if m := re.fullmatch(r"\$(\w+)", word):
            argv += env.get(m[1], "").split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m[1] or m[2], ""), word))
    user = dict(lines)
    return argv, {k: user[k] for k in ("User", "Group") if k in user}


def argv_for(state: LabState, plan: Plan, host: Host, name: str) -> list[str]:
    if name == "kamailio":
        # as systemd would start it (memory sized in /etc/default/kamailio, the memory manager in the
        # drop-in), in the foreground and logging to stderr, dropping to the unit's user
        argv, user = _unit_command(state.center, host.name, "kamailio.service", KAMAILIO_DROPIN)
        ids = [a for k, flag in (("User", "-u"), ("Group", "-g")) if k in user for a in (flag, user[k])]
        return [argv[0], "-DD", "-E", *ids, *argv[1:]]
    if name == "keepalived":
        # like a service manager's ExecStopPost: when keepalived dies, however it dies, its VIP goes
        # with it, so a crashed master never leaves a second holder behind
        vip = f"{host.ha.vip}/{host.prefix}"
        # and, like its ExecStartPre, no stale pid file of a killed run stops it from starting again
        return ["sh", "-c", "rm -f /run/keepalived.pid /run/keepalived_vrrp.pid /run/keepalived_checkers.pid; "
                f"keepalived -n -l -D -f /etc/keepalived/keepalived.conf -p /run/keepalived.pid "
                f"-r /run/keepalived_vrrp.pid -c /run/keepalived_checkers.pid; rc=$?; "
                f"ip addr del {vip} dev {host.interface} 2>/dev/null; exit $rc"]
    if name == "rtpengine":
        # the unit drop-in's UMask, as systemd would apply it (recordings are not world-readable)
        umask = _unit_umask(state.center, host.name, "/etc/systemd/system/rtpengine-daemon.service.d/trunkline.conf")
        return ["sh", "-c", f"umask {umask}; exec \"$0\" \"$@\"", "rtpengine", "--config-file=/etc/rtpengine/rtpengine.conf", "--config-section=rtpengine",
                "--foreground", "--log-stderr", "--pidfile=/run/rtpengine.pid", "--no-fallback"]
    if name == "sipp-uas":
        scenario = "uas-srtp.xml" if plan.security["srtp"] == "required" else "uas.xml"
        return ["sipp", "-sf", f"{LAB_SRC}/sipp/{scenario}", "-i", host.address, "-p", str(MEDIA_SIP_PORT),
                "-nostdin", "-nd", "-max_socket", "10000", "-max_recv_loops", "10000", "-buff_size", str(SIPP_SOCKET_BUFFER), "-trace_err",
                "-error_file", "/tmp/sipp-uas-errors.log", "-trace_counts", "-fd", "1"]
    raise LabError(f"no program {name!r} in the lab")


def services(plan: Plan, host: Host) -> list[str]:
    """What runs on a host in the lab, in start order."""
    if host.role == "sip-proxy":
        return ["kamailio"] + (["keepalived"] if host.ha else [])
    if host.role == "rtpengine":
        return ["rtpengine"]
    if host.role == "media":
        return ["sipp-uas"]  # FreeSWITCH is not packaged for Debian 12: SIPp answers in its place
    return []


def start_host(state: LabState, plan: Plan, host: Host, only: str | None = None) -> list[Proc]:
    started = []
    for name in services(plan, host):
        if only and name != only:
            continue
        started.append(spawn(state, host.name, name, argv_for(state, plan, host, name)))
    return started


def stop_proc(state: LabState, proc: Proc, sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    """End one recorded process (and the children it forked: its own session) by PID."""
    if not alive(proc):
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and alive(proc):
        _reap(proc.pid)
        time.sleep(0.05)
    if alive(proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for _ in range(40):
            _reap(proc.pid)
            if not alive(proc):
                break
            time.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --- readiness ------------------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def vip_holders(center: str, plan: Plan, site: str) -> list[str]:
    vip = plan.site(site).vip
    out = []
    for h in plan.hosts_of(site, "sip-proxy"):
        text = _ip("-n", ns_name(center, h.name), "-o", "-4", "addr", "show", "dev", h.interface, check=False).stdout
        if f" {vip}/" in text:
            out.append(h.name)
    return out


def sip_options(center: str, from_ns: str, source: str, target: str, port: int = 5060, timeout: float = 1.0) -> str | None:
    """Send one SIP OPTIONS from a namespace; the status line of the answer, or None."""
    code = (
        "import socket,sys,uuid\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[4]));s.bind((sys.argv[1],0))\n"
        "p=s.getsockname()[1];b=uuid.uuid4().hex\n"
        "m=(f'OPTIONS sip:{sys.argv[2]}:{sys.argv[3]} SIP/2.0\\r\\nVia: SIP/2.0/UDP {sys.argv[1]}:{p};branch=z9hG4bK{b}\\r\\n'\n"
        " f'From: <sip:probe@{sys.argv[1]}>;tag={b[:8]}\\r\\nTo: <sip:{sys.argv[2]}>\\r\\nCall-ID: {b}@trunkline\\r\\n'\n"
        " 'CSeq: 1 OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n')\n"
        "s.sendto(m.encode(),(sys.argv[2],int(sys.argv[3])))\n"
        "try:\n print(s.recv(4096).decode(errors='replace').split('\\r\\n')[0])\n"
        "except OSError:\n pass\n"
    )
    proc = _run(in_ns(from_ns, ["python3", "-c", code, source, target, str(port), str(timeout)]), check=False, timeout=timeout + 10)
    line = proc.stdout.strip()
    return line or None


def sip_send(from_ns: str, source: str, target: str, message: str, port: int = 5060, timeout: float = 2.0) -> list[str]:
    """Send one raw SIP message over UDP from a namespace and return what comes back (whole
    messages) until a final answer (2xx-6xx) or `timeout` s of silence. {port} in the message is the
    sender's local port (for Via and Contact)."""
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[4]));s.bind((sys.argv[1],0))\n"
        "m=sys.stdin.read().replace('{port}',str(s.getsockname()[1]))\n"
        "s.sendto(m.encode(),(sys.argv[2],int(sys.argv[3])))\n"
        "while True:\n"
        " try:\n  r=s.recv(65535).decode(errors='replace')\n"
        " except OSError:\n  break\n"
        " sys.stdout.write(r+'\\0');sys.stdout.flush()\n"
        " if not r.startswith('SIP/2.0 1'):\n  break\n"
    )
    proc = _run(in_ns(from_ns, ["python3", "-c", code, source, target, str(port), str(timeout)]), check=False,
                timeout=timeout * 10 + 10, input=message)
    return [m for m in proc.stdout.split("\0") if m]


# --- up / down / status ---------------------------------------------------------------------


def up(center: Center, scaled: list[str] = (), progress: Callable[[str], None] = lambda s: None) -> LabState:
    """Render the center's plan, check it, and run it: returns when every site answers calls."""
    plan = center.plan
    require_privileges()
    missing = missing_programs()
    if missing:
        raise LabError("the lab needs these programs: " + ", ".join(missing) + "; `make demo` installs them")
    old = LabState.load(plan.center)
    if old:
        progress(f"an earlier lab of {plan.center} is still recorded; taking it down first")
        down(plan.center)
    state = LabState(center=plan.center, blueprint=center.source, scaled=list(scaled))
    state.save()
    try:
        (state.dir / "plan.json").write_text(plan.to_json())
        progress("render: the files the lab runs, accepted by kamailio -c and keepalived -t first")
        center.render(state.render_dir())
        make_lab_pki(plan, state.dir / "pki")
        shutil.copytree(SIPP_DIR, state.dir / "sipp", dirs_exist_ok=True)
        progress(f"network: {len(plan.hosts)} hosts, {len(plan.sites)} site bridges, {len(plan.trunks)} carriers")
        build_network(state, plan)
        progress("file systems: rendered files placed at their server paths")
        build_filesystems(state, plan)
        order = {"rtpengine": 0, "media": 1, "recording": 2, "sip-proxy": 3}
        for host in sorted(plan.hosts, key=lambda h: (order[h.role], h.name)):
            if services(plan, host):
                progress(f"start {host.name}: {', '.join(services(plan, host))}")
                start_host(state, plan, host)
        wait_ready(state, plan, progress)
        state.ready = True
        state.save()
        return state
    except BaseException:
        progress("bringing the lab up failed; removing what was made")
        down(plan.center)
        raise


def wait_ready(state: LabState, plan: Plan, progress: Callable[[str], None] = lambda s: None, timeout: float = 30) -> None:
    c = plan.center
    for site in plan.sites:
        proxies = plan.hosts_of(site.name, "sip-proxy")
        if proxies[0].ha:
            wait_until(f"one VIP holder at {site.name}", lambda: len(vip_holders(c, plan, site.name)) == 1, timeout)
        # Kamailio answers only the site's trunk peers and media nodes: probe as one of them (a trunk
        # with mutual TLS is answered only over TLS with its certificate, which the lab's carriers lack)
        trunk = next((t for t in plan.trunks if site.name in t.sites and not t.tls_verify), None)
        media = plan.hosts_of(site.name, "media")
        if trunk or not media:
            carrier, src = carrier_ns(c, (trunk or plan.trunks[0]).name), (trunk or plan.trunks[0]).peers[0]
        else:
            carrier, src = ns_name(c, media[0].name), media[0].address
        for p in proxies:
            wait_until(f"Kamailio on {p.name} answering OPTIONS",
                       lambda: (sip_options(c, carrier, src, p.address) or "").startswith("SIP/2.0 200"), timeout, 0.3)
        for m in plan.hosts_of(site.name, "media"):
            wait_until(f"media node {m.name} answering OPTIONS",
                       lambda: (sip_options(c, ns_name(c, proxies[0].name), proxies[0].address, m.address, MEDIA_SIP_PORT) or "").startswith("SIP/2.0 200"),
                       timeout, 0.3)
        progress(f"site {site.name} ready: VIP {site.vip} on {', '.join(vip_holders(c, plan, site.name)) or proxies[0].name}")
    # the dispatcher marks nodes up on its first probe round (ds_ping_interval 1 s)
    time.sleep(1.5)


def down(center: str, progress: Callable[[str], None] = lambda s: None) -> list[str]:
    """Remove everything trunkline made for the center's lab; harmless when nothing is left."""
    done: list[str] = []
    state = LabState.load(center)
    namespaces = set(state.namespaces if state else [])
    # also what a crash left before its state was saved: our prefix is ours alone
    listing = _ip("netns", "list", check=False).stdout
    namespaces |= {line.split()[0] for line in listing.splitlines() if line.startswith(f"tl-{center}-")}
    if state:
        for proc in reversed(state.processes):
            if alive(proc):
                stop_proc(state, proc)
                done.append(f"stopped {proc.name} on {proc.host} (PID {proc.pid})")
    # any process still inside one of our namespaces was started by us (e.g. a call run cut short)
    for ns in sorted(namespaces):
        pids = _ip("netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
                done.append(f"killed PID {pid} left in {ns}")
            except (ProcessLookupError, ValueError):
                pass
    mounts = set(state.mounts if state else [])
    base = RUN_ROOT / center
    if (base / "mnt").exists():
        mounts |= {str(p) for p in (base / "mnt").iterdir()}
    for m in sorted(mounts):
        if Path(m).exists():
            _run(["umount", "-l", m], check=False)
    for ns in sorted(namespaces):
        if _ip("netns", "del", ns, check=False).returncode == 0:
            done.append(f"removed namespace {ns}")
    if base.exists():
        # overlays' upper dirs live here; every mount inside the host namespaces died with them
        shutil.rmtree(base, ignore_errors=True)
    if RUN_ROOT.exists() and not any(RUN_ROOT.iterdir()):
        _run(["umount", str(RUN_ROOT)], check=False)
        try:
            RUN_ROOT.rmdir()
        except OSError:
            pass
    if state and state.dir.exists():
        shutil.rmtree(state.dir)
        done.append(f"removed state {state.dir}")
    return done


@dataclass
class HostStatus:
    name: str
    site: str
    role: str
    address: str
    processes: list[dict]
    addresses: list[str]
    holds_vip: bool


def status(center: str) -> dict:
    state = LabState.load(center)
    if not state:
        raise LabError(f"no lab of {center} is up (nothing under {STATE_ROOT / center}); start one with trunkline up BLUEPRINT")
    plan = state.plan()
    hosts = []
    for h in plan.hosts:
        procs = [{"name": p.name, "pid": p.pid, "alive": alive(p)} for p in state.processes if p.host == h.name]
        text = _ip("-n", ns_name(center, h.name), "-o", "-4", "addr", "show", "dev", h.interface, check=False).stdout
        addrs = [line.split()[3] for line in text.splitlines()]
        vip = plan.site(h.site).vip
        hosts.append(asdict(HostStatus(h.name, h.site, h.role, h.address, procs, addrs, any(a.startswith(vip + "/") for a in addrs))))
    return {
        "center": center, "blueprint": state.blueprint, "ready": state.ready, "scaled": state.scaled,
        "media_stand_in": "SIPp UAS answers calls in place of FreeSWITCH (not packaged for Debian 12); the rendered FreeSWITCH files are placed on each media node",
        "sites": [{"name": s.name, "vip": s.vip, "vip_holders": vip_holders(center, plan, s.name)} for s in plan.sites],
        "carriers": [{"trunk": t.name, "namespace": carrier_ns(center, t.name), "peers": t.peers} for t in plan.trunks],
        "hosts": hosts,
    }


# --- faults (used by the tests, the benchmarks and drills) ----------------------------------


def set_link(center: str, plan: Plan, host: Host, up_: bool) -> None:
    """Take a host off its network (as if its cable or its machine were gone), or back on.

    A link going down takes its routes along; coming back, the default route is put back too.
    """
    ns = ns_name(center, host.name)
    _ip("-n", ns, "link", "set", host.interface, "up" if up_ else "down")
    if up_:
        _ip("-n", ns, "route", "replace", "default", "via", plan.site(host.site).gateway)


def program_pids(center: str, host: str, program: str) -> list[int]:
    """PIDs of a program running inside a lab host's network namespace."""
    pids = _ip("netns", "pids", ns_name(center, host), check=False).stdout.split()
    out = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == program:
                out.append(int(pid))
        except OSError:
            pass
    return out


def kill_program(center: str, host: str, program: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send sig to every process of `program` on a lab host (all started by the lab)."""
    pids = program_pids(center, host, program)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def restart_service(state: LabState, plan: Plan, host: Host, name: str) -> Proc:
    """Start a service again after a fault, as the host's service manager would."""
    for p in state.processes:
        if p.host == host.name and p.name == name and alive(p):
            stop_proc(state, p)
    state.processes = [p for p in state.processes if not (p.host == host.name and p.name == name)]
    (proc,) = start_host(state, plan, host, only=name)
    return proc


def dispatcher_flags(center: str, proxy: str) -> dict[str, str]:
    """Kamailio's view of its media nodes: URI -> flags (AP active+probing, IP inactive+probing)."""
    text = _run(in_host(center, proxy, ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dispatcher.list"]), check=False).stdout
    out, uri = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            uri = line.split(None, 1)[1]
        elif line.startswith("FLAGS:") and uri:
            out[uri] = line.split(None, 1)[1]
            uri = None
    return out


def answered_calls(center: str, host: str) -> int:
    """INVITEs a media node's SIPp has received so far (its per-message counts, written every second;
    probes are OPTIONS and not counted). Sums over restarts: each SIPp run writes its own file."""
    script = 'for f in /tmp/*_counts.csv; do [ -f "$f" ] && head -1 "$f" && tail -1 "$f"; done; true'
    lines = _run(in_host(center, host, ["sh", "-c", script]), check=False).stdout.strip().splitlines()
    total = 0
    for header, last in zip(lines[0::2], lines[1::2]):
        row = dict(zip(header.split(";"), last.split(";")))
        total += int(row.get("1_INVITE_Recv", 0) or 0)
    return total
