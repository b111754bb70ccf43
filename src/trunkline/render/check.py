"""Rendered files -> verdicts of the real programs.

Each file of a render tree goes to the program that will read it on the server:
`kamailio -c` for kamailio.cfg (with its include paths pointed into the tree), `keepalived -t`
for keepalived.conf, `nft -c` for the firewall (nftables.conf), `sh -n` for scripts and the
/etc/default files they source, an XML parser for FreeSWITCH, an INI parser for
rtpengine, and trunkline's own parser for dispatcher.list (kamailio -c does not read it).
A program that is not installed is reported as skipped, never as passed.

The real programs run concurrently (a thread per core; each waits on its own process), and an
input already checked in this run (the same bytes of a file and of what it includes, e.g. the
FreeSWITCH files of identical media nodes) is checked once: the verdict is reused.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from trunkline.render import MANIFEST

TIMEOUT_S = 60


@dataclass(frozen=True)
class CheckResult:
    host: str
    path: str
    checker: str  # the program or parser used
    status: str  # passed | failed | skipped
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _run(cmd: list[str]) -> tuple[int, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    return proc.returncode, (proc.stdout + proc.stderr)


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def check_kamailio(tree: Path, cfg: Path) -> tuple[str, str, str]:
    exe = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)
    if not exe:
        return "kamailio -c", "skipped", "kamailio is not installed (apt-get install kamailio kamailio-tls-modules)"
    etc = tree / "etc" / "kamailio"
    code, out = _run([exe, "-c", "-f", str(cfg), "-A", f'DS_LIST="{etc / "dispatcher.list"}"', "-A", f'TLS_CFG="{etc / "tls.cfg"}"'])
    ok = code == 0 and "config file ok" in out
    return "kamailio -c", "passed" if ok else "failed", "" if ok else _tail(out)


def check_keepalived(tree: Path, conf: Path) -> tuple[str, str, str]:
    exe = shutil.which("keepalived") or ("/usr/sbin/keepalived" if Path("/usr/sbin/keepalived").exists() else None)
    if not exe:
        return "keepalived -t", "skipped", "keepalived is not installed (apt-get install keepalived)"
    # scripts it tracks are named by their server path; point them into the tree
    text = conf.read_text().replace("/etc/keepalived/", f"{tree}/etc/keepalived/")
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=True) as tmp:
        tmp.write(text)
        tmp.flush()
        code, out = _run([exe, "-t", "-l", "-f", tmp.name])
    ok = code == 0 and "not found" not in out
    return "keepalived -t", "passed" if ok else "failed", "" if ok else _tail(out.replace(tmp.name, str(conf)))


def check_nft(path: Path) -> tuple[str, str, str]:
    """A dry run: nft parses the ruleset and asks the kernel to check it, committing nothing."""
    exe = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if not exe:
        return "nft -c", "skipped", "nftables is not installed (apt-get install nftables)"
    code, out = _run([exe, "-c", "-f", str(path)])
    if code != 0 and "Operation not permitted" in out:
        return "nft -c", "skipped", "nft -c needs CAP_NET_ADMIN (run as root) to ask the kernel; the ruleset was not checked"
    return "nft -c", "passed" if code == 0 else "failed", "" if code == 0 else _tail(out)


_DS_LINE = re.compile(r"^(\d+)\s+(sips?:\S+)\s+(\d+)\s+(-?\d+)(?:\s+(\S+))?\s*$")


def check_dispatcher_list(path: Path) -> tuple[str, str, str]:
    """kamailio reads this only when it starts; check its grammar the way the module does."""
    bad = []
    rows = 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _DS_LINE.match(line)
        if not m:
            bad.append(f"line {n}: expected 'setid sip:host:port flags priority attrs', got {line!r}")
            continue
        rows += 1
        attrs = dict(kv.split("=", 1) for kv in (m.group(5) or "").split(";") if "=" in kv)
        if "weight" in attrs and not attrs["weight"].isdigit():
            bad.append(f"line {n}: weight must be a whole number")
    if not rows and not bad:
        bad.append("no destination: calls would get 503")
    return "dispatcher.list grammar", "failed" if bad else "passed", "\n".join(bad)


def check_xml(path: Path) -> tuple[str, str, str]:
    try:
        ET.parse(path)
    except ET.ParseError as exc:
        return "XML parser", "failed", str(exc)
    return "XML parser", "passed", ""


def check_ini(path: Path, section: str) -> tuple[str, str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(path.read_text())
    except configparser.Error as exc:
        return "INI parser", "failed", str(exc)
    if not parser.has_section(section):
        return "INI parser", "failed", f"no [{section}] section"
    return "INI parser", "passed", ""


def check_shell(path: Path) -> tuple[str, str, str]:
    code, out = _run(["sh", "-n", str(path)])
    return "sh -n", "passed" if code == 0 else "failed", _tail(out)


def check_file(tree: Path, target: str) -> tuple[str, str, str] | None:
    path = tree / target.lstrip("/")
    name = path.name
    if name == "kamailio.cfg":
        return check_kamailio(tree, path)
    if name == "keepalived.conf":
        return check_keepalived(tree, path)
    if name == "dispatcher.list":
        return check_dispatcher_list(path)
    if name == "nftables.conf":
        return check_nft(path)
    if name == "tls.cfg":
        return check_ini(path, "server:default")
    if name.endswith(".xml"):
        return check_xml(path)
    if name == "rtpengine.conf":
        return check_ini(path, "rtpengine")
    if name == "rtpengine-recording.conf":
        return check_ini(path, "rtpengine-recording")
    if name.endswith(".sh") or target.startswith("/etc/default/"):  # /etc/default files are sourced by sh
        return check_shell(path)
    return None


# what else a file's verdict depends on: kamailio.cfg includes the tree's dispatcher.list and tls.cfg
_INPUTS = {"kamailio.cfg": ("dispatcher.list", "tls.cfg"), "keepalived.conf": ("check_kamailio.sh",)}


def _input_key(tree: Path, target: str) -> tuple[str, str]:
    """(file name, sha256 of its bytes and of the files it pulls in): equal keys get equal verdicts."""
    path = tree / target.lstrip("/")
    digest = hashlib.sha256(path.read_bytes())
    for name in _INPUTS.get(path.name, ()):
        extra = path.with_name(name)
        digest.update(b"\0" + (extra.read_bytes() if extra.exists() else b"-"))
    return path.name, digest.hexdigest()


def check_tree(out: Path, workers: int | None = None) -> list[CheckResult]:
    """Check every file the manifest of a render tree lists that has a checker.

    Results come back in the manifest's order; identical inputs are checked once.
    """
    out = Path(out)
    entries = json.loads((out / MANIFEST).read_text())["files"]
    keys = [_input_key(out / e["host"], e["path"]) for e in entries]
    first: dict[tuple[str, str], dict] = {}
    for key, e in zip(keys, entries):
        first.setdefault(key, e)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        verdicts = dict(zip(first, pool.map(lambda e: check_file(out / e["host"], e["path"]), first.values())))
    results = []
    for key, e in zip(keys, entries):
        verdict = verdicts[key]
        if verdict:
            checker, status, detail = verdict
            # a reused verdict's detail names the host folder it was found in: name this one's
            detail = detail.replace(f"{out / first[key]['host']}/", f"{out / e['host']}/")
            results.append(CheckResult(e["host"], e["path"], checker, status, detail))
    return results


def failed(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status == "failed"]
