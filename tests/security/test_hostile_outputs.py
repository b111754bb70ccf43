"""Hostile values in every blueprint field that reaches an output: refused with their place, or
written as inert data in every file, proven by reading each file back the way its program does.

For each (field, value) of the corpus the blueprint goes through the real loader (a layer file
on a small center that has every output: a proxy pair, rtpengine, an NFS recording store, media
nodes with an IVR, ssh settings). Either the loader refuses it with a located error, or render
and inventory succeed and, compared with the clean center:
  * every rendered and inventory file has the same number of lines;
  * every XML file parses and has the same elements (tag, in order);
  * kamailio.cfg has the same route blocks;
  * tmpfiles.d lines make exactly the folder given when systemd-tmpfiles runs them (--root into a
    scratch folder); exports lines read back to the path given (exports(5) octal escapes);
  * the /etc/default files sourced by sh give back the value (a real sh reads them);
  * inventory.py has the same Python structure (ast) and carries the values as constants;
  * `ssh -G` shows the value as User/IdentityFile/ProxyJump and no ProxyCommand/LocalCommand;
  * Ansible (its own inventory loader and templar) sees the literal value and evaluates nothing.
The same corpus is then put straight into the plan (as if the loader let anything through), to
prove the outputs' own defence: there, a value the format cannot hold is refused at render or
inventory time with exit code 2 and the field it came from.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pytest
from ruamel.yaml import YAML

from trunkline.blueprint.load import load_blueprint
from trunkline.errors import BlueprintError, TrunklineError
from trunkline.paths import COLLECTIONS
from trunkline.plan.topology import build_plan
from trunkline.render import render_plan
from trunkline.render.escape import unsafe_yaml
from trunkline.targets.inventory import write_inventory

BASE = """\
apiVersion: trunkline/v1
kind: Center
metadata: {name: hostile, customer: Hostile Test Center, industry: retail}
spec:
  timezone: Europe/Berlin
  languages: [de-DE]
  forecast:
    peak_calls_per_hour: 60
    average_handle_time: 180s
    service_level: {answer_within: 30s, target: 0.8}
  seats:
    - {pool: support, count: 2, skills: [orders], site: hq}
  trunks:
    - name: carrier
      transport: tls
      codecs: [PCMA]
      peers: [192.0.2.10]
      credentials: {username: hostile-trunk, secret: "env:CARRIER_PASSWORD"}
  sites:
    - name: hq
      kind: onprem
      role: primary
      timezone: Europe/Berlin
      network: {cidr: 10.1.0.0/24}
      sip_proxy: {ha: pair}
      media: {nodes: 1}
      ssh: {user: deploy, port: 22, key: "file:~/.ssh/deploy", bastion: jump.example.net}
  ivr:
    - name: main
      entry: true
      greeting: ivr/welcome.wav
      language: de-DE
      options:
        "1": {queue: orders, say: ivr/one-moment.wav}
  queues:
    - {name: orders, skill: orders, moh: "local_stream://moh"}
  recording:
    mode: all
    format: mp3
    storage: {kind: nfs, path: /srv/recordings, encryption: aes-256}
    retention: 1y
"""

VALUES = {
    "single-quote": "it's",
    "double-quote": 'say "hi"',
    "newline": "x\nR /etc - - - -\nProxyCommand touch /tmp/trunkline-pwned",
    "nul": "a\x00b",
    "jinja": "{{ lookup('env','HOME') }}",
    "fs-expansion": "${system(touch /tmp/trunkline-pwned)}",
    "xml-close": '"/><param name="auth-calls" value="false',
    "dotdot": "../../../../etc/shadow",
    "long": "a" * 100_000,
    "non-ascii": "Grüße-你好-☎\u202e",
}


@dataclass(frozen=True)
class Field:
    path: str  # where the loader's message points (dotted, as the user wrote it)
    layer: Callable[[str], dict]  # the blueprint layer that sets it
    plan: Callable[[object, str], object] | None = None  # the same straight into the plan (None: not plan data)
    ssh: Callable[[object, str], object] | None = None  # ... or into the plan's ssh settings
    prefix: str = ""  # what the value is put after (a path needs its leading /)


def _site(**kw) -> dict:
    return {"spec": {"sites": [{"name": "hq", **kw}]}}


def _plan_rec(plan, v):
    rec = json.loads(json.dumps(plan.recording))
    rec["storage"]["path"] = v
    return plan.model_copy(update={"recording": rec})


def _plan_ivr(key: str):
    def update(plan, v):
        ivr = json.loads(json.dumps(plan.ivr))
        if key == "say":
            ivr[0]["options"]["1"]["say"] = v
        else:
            ivr[0][key] = v
        return plan.model_copy(update={"ivr": ivr})
    return update


def _plan_queue_moh(plan, v):
    queues = json.loads(json.dumps(plan.queues))
    queues[0]["moh"] = v
    return plan.model_copy(update={"queues": queues})


def _plan_trunk(key: str):
    def update(plan, v):
        return plan.model_copy(update={"trunks": [plan.trunks[0].model_copy(update={key: v})]})
    return update


def _plan_timezone(plan, v):
    return plan.model_copy(update={"timezone": v, "sites": [s.model_copy(update={"timezone": v}) for s in plan.sites]})


def _with_ssh(plan, **changes):
    """The plan with every site's ssh settings changed (straight into the plan, past the loader)."""
    return plan.model_copy(update={"sites": [s.model_copy(update={"ssh": s.ssh.model_copy(update=changes)}) if s.ssh else s
                                             for s in plan.sites]})


def _ssh(key: str, prefix: str = ""):
    def update(plan, v):
        return _with_ssh(plan, **{key: prefix + v})
    return update


FIELDS = {
    "recording.storage.path": Field("spec.recording.storage.path", lambda v: {"spec": {"recording": {"storage": {"path": v}}}},
                                    plan=_plan_rec, prefix="/srv/"),
    "ivr.greeting": Field("spec.ivr[0].greeting", lambda v: {"spec": {"ivr": [{"name": "main", "greeting": v}]}}, plan=_plan_ivr("greeting")),
    "ivr.language": Field("spec.ivr[0].language", lambda v: {"spec": {"ivr": [{"name": "main", "language": v}]}}, plan=_plan_ivr("language")),
    "ivr.say": Field("spec.ivr[0].options.1.say", lambda v: {"spec": {"ivr": [{"name": "main", "options": {"1": {"queue": "orders", "say": v}}}]}},
                     plan=_plan_ivr("say")),
    "queue.moh": Field("spec.queues[0].moh", lambda v: {"spec": {"queues": [{"name": "orders", "moh": v}]}}, plan=_plan_queue_moh),
    "trunk.username": Field("spec.trunks[0].credentials.username",
                            lambda v: {"spec": {"trunks": [{"name": "carrier", "credentials": {"username": v, "secret": "env:CARRIER_PASSWORD"}}]}},
                            plan=_plan_trunk("username")),
    "trunk.secret": Field("spec.trunks[0].credentials.secret",
                          lambda v: {"spec": {"trunks": [{"name": "carrier", "credentials": {"username": "u", "secret": v}}]}},
                          plan=_plan_trunk("secret_ref"), prefix="env:X"),
    "timezone": Field("spec.timezone", lambda v: {"spec": {"timezone": v, "sites": [{"name": "hq", "timezone": v}]}}, plan=_plan_timezone),
    "languages": Field("spec.languages[0]", lambda v: {"spec": {"languages": [v]}},
                       plan=lambda plan, v: plan.model_copy(update={"languages": [v]})),
    "ssh.user": Field("spec.sites[0].ssh.user", lambda v: _site(ssh={"user": v}), ssh=_ssh("user")),
    "ssh.key": Field("spec.sites[0].ssh.key", lambda v: _site(ssh={"key": "file:" + v}), ssh=_ssh("key", "file:"), prefix="/keys/"),
    "ssh.bastion": Field("spec.sites[0].ssh.bastion", lambda v: _site(ssh={"bastion": v}), ssh=_ssh("bastion")),
    "metadata.name": Field("metadata.name", lambda v: {"metadata": {"name": v}},
                           plan=lambda plan, v: plan.model_copy(update={"center": v})),
}
CASES = [(f, k) for f in FIELDS for k in VALUES]


def value_of(field: str, kind: str) -> str:
    return FIELDS[field].prefix + VALUES[kind]


# --- loading, rendering, writing -----------------------------------------------------------------


@dataclass
class Outcome:
    refused: TrunklineError | None = None  # by the loader
    render_refused: TrunklineError | None = None
    inventory_refused: TrunklineError | None = None
    files: dict | None = None  # (host, path) -> text
    inventory: Path | None = None
    plan: object = None

    @property
    def refusals(self) -> list[TrunklineError]:
        return [e for e in (self.refused, self.render_refused, self.inventory_refused) if e]


def _write_layer(tmp: Path, data: dict) -> Path:
    path = tmp / "layer.yaml"
    path.write_text(json.dumps(data, ensure_ascii=True))  # JSON is YAML; every character as an escape
    return path


def _produce(plan, out: Path) -> Outcome:
    """Render (in memory) and write the inventory, each on its own (`trunkline inventory` does not
    render); a deliberate refusal is an outcome, not a failure."""
    got = Outcome(plan=plan)
    try:
        got.files = {(f.host, f.path): f.content.decode() for f in render_plan(plan)}
    except TrunklineError as exc:
        got.render_refused = exc
    try:
        write_inventory(plan, out / "inv", out / "build")
        got.inventory = out / "inv"
    except TrunklineError as exc:
        got.inventory_refused = exc
    return got


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("base") / "hostile.yaml"
    path.write_text(BASE)
    return path


@pytest.fixture(scope="module")
def clean(base_file, tmp_path_factory) -> Outcome:
    center = load_blueprint([base_file])
    out = _produce(build_plan(center, source=str(base_file)), tmp_path_factory.mktemp("clean"))
    assert not out.refusals, out.refusals
    return out


def through_loader(base_file: Path, tmp: Path, field: str, value: str) -> Outcome:
    layer = _write_layer(tmp, FIELDS[field].layer(value))
    try:
        center = load_blueprint([base_file, layer])
    except TrunklineError as exc:
        return Outcome(refused=exc)
    return _produce(build_plan(center, source=str(base_file)), tmp)


def past_the_loader(base_file: Path, tmp: Path, field: str, value: str) -> Outcome:
    center = load_blueprint([base_file])
    plan = build_plan(center, source=str(base_file))
    f = FIELDS[field]
    if f.plan:
        plan = f.plan(plan, value)
    if f.ssh:
        plan = f.ssh(plan, value)
    return _produce(plan, tmp)


# --- reading outputs back ------------------------------------------------------------------------


def _tmpfiles_created(text: str, root: Path) -> set[str]:
    """What systemd-tmpfiles itself makes of the file: run it with --root into a scratch folder
    (owners mapped to root, which exists here) and list the folders it created."""
    exe = shutil.which("systemd-tmpfiles")
    if not exe:
        pytest.skip("systemd-tmpfiles is not installed")
    root.parent.mkdir(parents=True, exist_ok=True)
    conf = root.with_suffix(".conf")
    conf.write_text(text.replace(" freeswitch trunkline-rec ", " root root ").replace(" root trunkline-rec ", " root root "))
    root.mkdir()
    proc = subprocess.run([exe, f"--root={root}", "--create", str(conf)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return {"/" + p.relative_to(root).as_posix() for p in root.rglob("*")}


def _unescape_exports(field: str) -> str:
    """exportfs' reading of a path: \\ooo octal escapes of bytes."""
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field.encode())
    return raw.decode()


def _elements(text: str) -> list[str]:
    return [el.tag for el in ET.fromstring(text).iter()]  # the header comment included: it must be XML too


def _routes(text: str) -> list[str]:
    return re.findall(r"(?m)^(request_route|(?:failure_|onreply_|branch_|event_)?route\[\w+\])\s*\{", text)


def _ssh_g(config: Path, host: str) -> dict[str, list[str]]:
    proc = subprocess.run(["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    return out


def _ast_shape(text: str) -> str:
    """The structure of a Python file with its constants blanked (names and nodes stay)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def _ansible_vars(inventory: Path, host: str) -> tuple[dict, Callable]:
    """Ansible's own view of a host's variables, and its templar over them."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[str(inventory / "hosts.yml")])
    variables = VariableManager(loader=loader, inventory=inv).get_vars(host=inv.get_host(host), include_hostvars=False)
    return variables, Templar(loader=loader, variables=variables).template


def _systemd_words(line: str) -> list[str]:
    """An Exec*= command line as systemd splits it (systemd.syntax(7)): double quotes with C escapes,
    %% and $$ for a literal % and $."""
    words = [m.group(1) if m.group(1) is not None else m.group(2) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', line)]
    return [re.sub(r"\\(.)", r"\1", w).replace("%%", "%").replace("$$", "$") for w in words]


def _sourced(path: Path, name: str) -> str:
    """What sh sees in $name after sourcing the file (as the retention job does)."""
    proc = subprocess.run(["sh", "-c", f'. "$1"; printf %s "${name}"', "sh", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _inventory_texts(inv: Path) -> dict[str, str]:
    return {p.relative_to(inv).as_posix(): p.read_text() for p in sorted(inv.rglob("*")) if p.is_file()}


# --- the checks ----------------------------------------------------------------------------------


def assert_located(exc: TrunklineError, field: str) -> None:
    """A refusal names where: FILE:LINE:COL (loader) or the field path, and exits 2."""
    text = str(exc)
    tail = FIELDS[field].path.split(".")[-1].split("[")[0]
    located = (isinstance(exc, BlueprintError) and all(p.line or p.path for p in exc.problems)) or tail in text \
        or re.search(r"\.yaml:\d+", text)
    assert located, f"refusal without a place: {text[:300]}"
    assert exc.exit_code == 2, (type(exc).__name__, text[:300])


def assert_inert(got: Outcome, clean: Outcome, field: str, value: str, tmp_root: Path) -> None:
    """Each of render and inventory either refused the value with its place, or wrote it as data."""
    for exc in got.refusals:
        assert_located(exc, field)
    if got.files is not None:
        assert_render_inert(got, clean, field, value, tmp_root)
    if got.inventory is not None:
        assert_inventory_inert(got, clean, field, value)


def assert_render_inert(got: Outcome, clean: Outcome, field: str, value: str, tmp_root: Path) -> None:
    assert set(got.files) == set(clean.files), "a value changed which files are rendered"
    for key, text in got.files.items():
        before = clean.files[key]
        assert text.count("\n") == before.count("\n"), f"{key}: lines added or removed"
        if key[1].endswith(".xml"):
            assert _elements(text) == _elements(before), f"{key}: XML elements changed"
        if key[1].endswith("kamailio.cfg"):
            assert _routes(text) == _routes(before), f"{key}: route blocks changed"
        if key[1].endswith("trunkline-recordings.conf"):
            d_lines = [shlex.split(line) for line in text.splitlines() if line.startswith("d ")]
            assert [len(f) for f in d_lines] == [6], d_lines  # type path mode user group age
            path = got.plan.recording["storage"]["path"]
            assert d_lines[0][1].replace("%%", "%") == path
            made = _tmpfiles_created(text, tmp_root / key[0])
            assert path in made and all(path.startswith(m) for m in made), made
        if key[1].endswith("trunkline.exports"):
            rows = [line.split() for line in text.splitlines() if not line.startswith("#")]
            assert len(rows) == 1 and _unescape_exports(rows[0][0]) == got.plan.recording["storage"]["path"]
    # what sh (the retention job) and systemd's EnvironmentFile= read back from the /etc/default files
    for host, path, name in (("hq-rec1", "/etc/default/trunkline-retention", "TRUNKLINE_RETENTION_DIR"),):
        sourced = tmp_root.with_name(path.rsplit("/", 1)[1])
        sourced.write_text(got.files[(host, path)])
        assert _sourced(sourced, name) == got.plan.recording["storage"]["path"]
    # the media node mounts the store where FreeSWITCH writes: systemd reads back one path, no more
    store = got.files[("hq-media1", "/etc/systemd/system/trunkline-recording-store.service")]
    start = next(line for line in store.splitlines() if line.startswith("ExecStart="))
    assert _systemd_words(start.removeprefix("ExecStart="))[-2:] == [f"{got.plan.hosts_of('hq', 'recording')[0].address}:{got.plan.recording['storage']['path']}",
                                                                      got.plan.recording["storage"]["path"]]
    assert got.files[("hq-sip1", "/etc/timezone")] == got.plan.site("hq").timezone + "\n"
    f = got.files
    media = next(h for h, p in f if h.endswith("media1"))
    if field == "ivr.greeting":
        menu = ET.fromstring(f[(media, "/etc/freeswitch/ivr_menus/trunkline.xml")]).find("menu")
        assert menu.get("greet-long") == value
    if field == "ivr.say":
        data = [a.get("data") for a in ET.fromstring(f[(media, "/etc/freeswitch/dialplan/trunkline.xml")]).iter("action")
                if a.get("application") == "playback"]
        assert value in data
    if field == "queue.moh":
        params = ET.fromstring(f[(media, "/etc/freeswitch/autoload_configs/callcenter.conf.xml")]).iter("param")
        assert value in [p.get("value") for p in params if p.get("name") == "moh-sound"]
    if field == "trunk.username":
        params = ET.fromstring(f[(media, "/etc/freeswitch/sip_profiles/external.xml")]).iter("param")
        assert value in [p.get("value") for p in params if p.get("name") == "username"]


def assert_inventory_inert(got: Outcome, clean: Outcome, field: str, value: str) -> None:
    inv, before = _inventory_texts(got.inventory), _inventory_texts(clean.inventory)
    assert set(inv) == set(before)
    for name, text in inv.items():
        if name != "manifest.json":  # its "written" list and hashes are not lines of a program's input
            assert text.count("\n") == before[name].count("\n"), f"inventory {name}: lines added or removed"
    assert _ast_shape(inv["inventory.py"]) == _ast_shape(before["inventory.py"]), "inventory.py changed shape"
    load = unsafe_yaml("safe").load
    all_vars = load(inv["group_vars/all.yml"])
    site = load(inv["group_vars/site_hq.yml"])
    assert all_vars["recording_storage_path"] == got.plan.recording["storage"]["path"]
    assert all_vars["trunkline_center"] == got.plan.center
    # what Ansible makes of it: the literal value, and nothing evaluated
    variables, template = _ansible_vars(got.inventory, "hq-sip1")
    for var in ("recording_storage_path", "ansible_user", "trunkline_center", "ansible_ssh_private_key_file", "trunkline_bastion"):
        if var in variables:
            assert template(variables[var]) == variables[var], f"Ansible evaluated {var}"
    assert variables["ansible_user"] == site["ansible_user"]
    assert shlex.split(variables["ansible_ssh_common_args"]) == ["-o", f"ProxyJump={site['trunkline_bastion']}"]
    # what ssh makes of it: the values, no extra keyword
    seen = _ssh_g(got.inventory / "ssh_config", "hq-sip1")
    assert "proxycommand" not in seen and "localcommand" not in seen and "permitlocalcommand" not in {k for k, v in seen.items() if v != ["no"]}
    assert seen["user"] == [site["ansible_user"]]
    assert seen["proxyjump"] == [site["trunkline_bastion"]]
    assert seen["hostname"] == ["10.1.0.10"]
    # where the value itself must land, as data
    if field == "ssh.key":
        assert seen["identityfile"] == [value] and variables["ansible_ssh_private_key_file"] == value
    if field == "ssh.user":
        assert seen["user"] == [value]
    if field == "ssh.bastion":
        assert seen["proxyjump"] == [value]
    if field == "recording.storage.path":
        assert all_vars["recording_storage_path"] == value


@pytest.mark.parametrize("field,kind", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_a_hostile_value_through_the_loader_is_refused_with_its_place_or_inert_in_every_output(field, kind, base_file, clean, tmp_path):
    value = value_of(field, kind)
    got = through_loader(base_file, tmp_path, field, value)
    assert_inert(got, clean, field, value, tmp_path / "tmpfiles-root")


PLAN_CASES = [(f, k) for f, k in CASES if f != "metadata.name" or k in ("non-ascii", "long")]


@pytest.mark.parametrize("field,kind", PLAN_CASES, ids=[f"{f}-{k}" for f, k in PLAN_CASES])
def test_a_hostile_value_past_the_loader_is_refused_by_the_output_or_inert_in_it(field, kind, base_file, clean, tmp_path):
    """Defence in depth: the same values put straight into the plan (or the ssh settings)."""
    value = value_of(field, kind)
    got = past_the_loader(base_file, tmp_path, field, value)
    assert_inert(got, clean, field, value, tmp_path / "tmpfiles-root")


# --- findings of the issue, one by one (each fails on the code before the fix) --------------------


def test_a_storage_path_with_newlines_adds_no_tmpfiles_or_exports_line(base_file, clean, tmp_path):
    got = past_the_loader(base_file, tmp_path, "recording.storage.path", "/srv/rec\nR /etc - - - -\n/etc *(rw)")
    assert got.render_refused and got.inventory_refused, "a store path with line breaks was written"
    for exc in got.refusals:
        assert "spec.recording.storage.path" in str(exc) or "plan.recording.storage.path" in str(exc)
    # where the loader lets a space or quote through, tmpfiles and exports still read one path back
    got = past_the_loader(base_file, tmp_path / "2", "recording.storage.path", "/srv/rec R 'x' \"#y\"")
    assert not got.refusals, got.refusals
    for (host, path), text in got.files.items():
        if path.endswith(("trunkline-recordings.conf", "trunkline.exports")):
            assert not any(line.startswith(("R ", "/etc ")) for line in text.splitlines()), (host, path)
            assert text.count("\n") == clean.files[(host, path)].count("\n")


def test_a_secret_reference_cannot_add_an_element_to_the_external_profile(base_file, clean, tmp_path):
    got = past_the_loader(base_file, tmp_path, "trunk.secret", 'env:X"/><param name="auth-calls" value="false')
    exc = got.render_refused
    assert exc, "the reference was rendered"
    assert "trunks[0].secret_ref" in str(exc) and exc.exit_code == 2
    assert "auth-calls" not in str(exc)  # a reference may be a mistyped secret: not shown


def test_ivr_say_text_never_reaches_dialplan_data_with_a_variable(base_file, tmp_path):
    got = past_the_loader(base_file, tmp_path, "ivr.say", "${system(touch /tmp/trunkline-pwned)}")
    exc = got.render_refused
    assert exc and "options.1.say" in str(exc) and "FreeSWITCH" in str(exc) and exc.exit_code == 2


def test_a_time_zone_outside_the_iana_database_never_becomes_etc_timezone(base_file, tmp_path):
    got = past_the_loader(base_file, tmp_path, "timezone", "../../../../etc/shadow")
    assert got.render_refused, "rendered"  # vars.xml and /etc/timezone
    assert all("timezone" in str(e) and e.exit_code == 2 for e in got.refusals)
    # the inventory holds no host file (render/ is the only producer): the zone is in none of its files
    assert got.inventory_refused or all("shadow" not in text for text in _inventory_texts(got.inventory).values())


def test_a_storage_path_that_is_a_system_folder_is_never_aged_or_cleaned(base_file, tmp_path):
    for path in ("/", "/etc", "/usr/lib"):
        got = past_the_loader(base_file, tmp_path, "recording.storage.path", path)
        assert len(got.refusals) == 2 and all("storage.path" in str(e) for e in got.refusals), path


@pytest.mark.parametrize("name", [
    "x\n#!define WITH_EVIL\nroute[EVIL] {\n}\n.yaml",
    'x --> <X-PRE-PROCESS cmd="exec" data="touch trunkline-pwned"> <!-- .yaml',
    "x\nimport os; os.system('touch trunkline-pwned')\n.yaml",
    "x\u2028\x0b\x85 ${x} {{ y }}.yaml",
])
def test_the_blueprint_file_name_stays_inside_every_managed_by_header(name, clean, tmp_path):
    """The loader refuses a file name with control characters; given straight to the plan as its
    source, the name still lands in every header as inert text."""
    path = tmp_path / name
    path.write_text(BASE)
    if any(unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" for c in name):
        with pytest.raises(TrunklineError, match="control characters"):
            load_blueprint([path])
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE)
    center = load_blueprint([plain])
    got = _produce(build_plan(center, source=str(path)), tmp_path / "out")
    assert not got.refusals, got.refusals
    for key, text in got.files.items():
        assert text.count("\n") == clean.files[key].count("\n"), key
        if key[1].endswith(".xml"):
            assert _elements(text) == _elements(clean.files[key]), key
            assert "<X-PRE-PROCESS cmd=\"exec\"" not in text
        if key[1].endswith("kamailio.cfg"):
            assert _routes(text) == _routes(clean.files[key])
            assert not any(line.startswith("#!define WITH_EVIL") for line in text.splitlines())
    inv = _inventory_texts(got.inventory)
    assert _ast_shape(inv["inventory.py"]) == _ast_shape(_inventory_texts(clean.inventory)["inventory.py"])
    assert unsafe_yaml("safe").load(inv["group_vars/all.yml"])["trunkline_blueprint"] == str(path)
    assert "proxycommand" not in _ssh_g(got.inventory / "ssh_config", "hq-sip1")


@pytest.mark.skipif(not (shutil.which("kamailio") or Path("/usr/sbin/kamailio").exists()), reason="kamailio is not installed")
def test_kamailio_still_accepts_its_config_with_a_hostile_blueprint_name(tmp_path):
    from trunkline.render import render_site
    from trunkline.render.check import check_tree

    path = tmp_path / "x\n#!define WITH_EVIL\nroute[EVIL] {\n.yaml"  # the plan's source only: the loader refuses it
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE)
    center = load_blueprint([plain])
    tree = tmp_path / "tree"
    render_site(build_plan(center, source=str(path)), tree, check=False)
    results = [r for r in check_tree(tree) if r.checker == "kamailio -c"]
    assert results and all(r.status == "passed" for r in results), [r.detail for r in results]


def test_an_ansible_run_against_a_hostile_inventory_runs_nothing(base_file, tmp_path):
    """The finding: `ansible` against the inventory ran the pipe lookup of a storage path."""
    marker = tmp_path / "pwned"
    got = past_the_loader(base_file, tmp_path, "recording.storage.path", "/srv/x{{ lookup('pipe','touch " + str(marker) + "') }}")
    assert got.inventory, got.inventory_refused  # `trunkline inventory` does not render: FreeSWITCH's refusal is not on this path
    ansible = Path(sys.executable).with_name("ansible")
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOCALHOST_WARNING="False")
    proc = subprocess.run([str(ansible), "-i", str(got.inventory / "hosts.yml"), "hq-rec1", "-m", "ansible.builtin.debug",
                           "-a", "var=recording_storage_path", "-e", "ansible_connection=local",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists(), "Ansible ran the lookup from the blueprint"
    assert "lookup('pipe','touch" in proc.stdout  # the value, shown as it is
    listed = subprocess.run([str(ansible.with_name("ansible-inventory")), "-i", str(got.inventory / "hosts.yml"), "--list"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]["hq-rec1"]
    assert hostvars["recording_storage_path"] == {"__ansible_unsafe": "/srv/x{{ lookup('pipe','touch " + str(marker) + "') }}"}
    assert not marker.exists()


@pytest.mark.parametrize("key,value", [
    ("user", "deploy\nProxyCommand touch /tmp/trunkline-pwned"),
    ("key", "file:/keys/k\nLocalCommand touch /tmp/trunkline-pwned"),
    ("bastion", "jump -oProxyCommand=touch /tmp/trunkline-pwned"),
    ("bastion", "-oProxyCommand=touch"),
])
def test_ssh_settings_cannot_add_a_keyword_or_an_option(key, value, base_file, tmp_path):
    center = load_blueprint([base_file])
    got = _produce(_with_ssh(build_plan(center, source=str(base_file)), **{key: value}), tmp_path)
    exc = got.inventory_refused
    assert exc is not None and f"ssh.{key}" in str(exc) and exc.exit_code == 2
    assert not (tmp_path / "inv").exists()


def test_the_pyinfra_inventory_is_python_literals_only(clean):
    tree = ast.parse((clean.inventory / "inventory.py").read_text())
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert calls <= {"Path", "Path(__file__).with_name", "str"}, calls


def test_the_render_refuses_a_zone_that_is_not_in_the_database(clean):
    plan = _plan_timezone(clean.plan, "Mars/Olympus_Mons")
    with pytest.raises(TrunklineError, match="timezone"):
        render_plan(plan, ["hq-sip1"])  # a proxy: its /etc/timezone is the only file with the zone


# --- secret values, placed at apply time -----------------------------------------------------------


def _resolve_secrets_filter():
    import importlib.util

    path = COLLECTIONS / "ansible_collections/trunkline/center/plugins/filter/files.py"
    spec = importlib.util.spec_from_file_location("trunkline_center_files", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resolve_secrets


HOSTILE_SECRET = 'p"/><param name="auth-calls" value="false"/>\n\t<x a=\'1\'> & $${x}'


def test_a_secret_value_lands_in_xml_as_one_attribute_by_both_engines(clean):
    from trunkline.deploys import unmark

    media = next(h for h, p in clean.files if h.endswith("media1"))
    path = "/etc/freeswitch/sip_profiles/external.xml"
    text = clean.files[(media, path)]
    secrets = {"env:CARRIER_PASSWORD": HOSTILE_SECRET}
    by_pyinfra = unmark(text, path, secrets)
    assert _resolve_secrets_filter()(text, secrets, path) == by_pyinfra  # both engines place the same bytes
    assert _elements(by_pyinfra) == _elements(text)
    passwords = [p.get("value") for p in ET.fromstring(by_pyinfra).iter("param") if p.get("name") == "password"]
    assert passwords == [HOSTILE_SECRET]


def test_a_secret_value_with_a_line_break_is_refused_outside_xml_without_showing_it():
    from ansible.errors import AnsibleFilterError

    from trunkline.deploys import unmark
    from trunkline.render.escape import UnsafeValue

    text, secrets = "password=@@secret:env:P@@\n", {"env:P": "hunter2\nExecStart=/bin/sh -c id"}
    with pytest.raises(UnsafeValue) as refused:
        unmark(text, "/etc/default/some.conf", secrets)
    assert "hunter2" not in str(refused.value) and "line break" in str(refused.value)
    with pytest.raises(AnsibleFilterError) as refused:
        _resolve_secrets_filter()(text, secrets, "/etc/default/some.conf")
    assert "hunter2" not in str(refused.value) and "env:P" in str(refused.value)


@pytest.mark.parametrize("command", ["render", "inventory"])
def test_a_refused_value_exits_2_through_the_cli_with_its_place_and_writes_nothing(command, base_file, tmp_path):
    from typer.testing import CliRunner

    from trunkline.cli import app

    layer = _write_layer(tmp_path, FIELDS["recording.storage.path"].layer("/srv/rec\nR /etc - - - -"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [command, str(base_file), "-l", str(layer), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "storage.path" in result.output and (re.search(r"layer\.yaml:\d+", result.output) or "spec.recording" in result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_a_key_path_cannot_add_options_to_testinfras_host_url(base_file, tmp_path):
    from testinfra.backend import parse_hostspec

    from trunkline.targets.inventory import read_ssh_targets

    center = load_blueprint([base_file])
    plan = _with_ssh(build_plan(center, source=str(base_file)), key="file:/keys/k?x&sudo=true&ssh_config=/tmp/evil#frag", bastion=None)
    got = _produce(plan, tmp_path)
    assert got.inventory, got.inventory_refused
    host, kw = parse_hostspec(read_ssh_targets(got.inventory)["hq-sip1"].testinfra_spec())
    assert kw.get("ssh_identity_file") == "/keys/k?x&sudo=true&ssh_config=/tmp/evil#frag"
    assert "sudo" not in kw and "ssh_config" not in kw


def test_an_ssh_user_cannot_carry_a_url_into_testinfras_host(base_file, tmp_path):
    center = load_blueprint([base_file])
    got = _produce(_with_ssh(build_plan(center, source=str(base_file)), user="root@evil?sudo=true"), tmp_path)
    assert got.inventory_refused and "ssh.user" in str(got.inventory_refused)
