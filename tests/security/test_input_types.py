"""Every blueprint field is typed for what it is (issue 11, sections 1 and 4).

A hostile value in any field that reaches an output is refused with a located error
(FILE:LINE:COL field.path: what; fix, exit 2), and real-shaped values of the same fields still
pass. Secrets given as literals are refused without the value ever being printed back.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML
from typer.testing import CliRunner

from trunkline.blueprint.load import load_blueprint, validate_data
from trunkline.blueprint.models import SECRET, Blueprint
from trunkline.cli import app
from trunkline.errors import BlueprintError

from shared import BASE, ROOT

IVR = [{"name": "main", "entry": True, "greeting": "ivr/welcome.wav", "options": {"1": {"queue": "orders", "say": "phrase:hold"}}}]
SSH = {"user": "deploy", "key": "file:~/.ssh/deploy", "bastion": "jump.example.com"}

# (field path, hostile value): each must be refused at that path
HOSTILE: list[tuple[str, Any]] = [
    ("metadata.customer", "ACME\nBank"),
    ("metadata.customer", "ACME {{ lookup('pipe','touch /tmp/x') }}"),
    ("metadata.customer", "ACME ${system(id)}"),
    ("metadata.customer", "Evil\x00Corp"),
    ("metadata.customer", "ACME\u202eknaB"),  # a right-to-left override: a format character
    ("metadata.customer", "<script>alert(1)</script>"),
    ("metadata.customer", "x" * 201),
    ("metadata.labels", {"owner": "ops team"}),
    ("metadata.labels", {"Owner!": "ops"}),
    ("metadata.labels", {"owner": "{{ x }}"}),
    ("spec.timezone", "../../../../etc/shadow"),
    ("spec.timezone", "Europe/Berlin\nR /etc - - - -"),
    ("spec.timezone", "localtime"),
    ("spec.timezone", "/usr/share/zoneinfo/UTC"),
    ("spec.timezones", ["Europe/Berlin", "../x"]),
    ("spec.sites[0].timezone", "../../etc/passwd"),
    ("spec.languages", ["en-US\n"]),
    ("spec.languages", ["${sound_prefix}"]),
    ("spec.languages", ["en_US.UTF-8"]),
    ("spec.seats[0].languages", ['de-DE"/>']),
    ("spec.sites[0].region", "eu central 1"),
    ("spec.recording.storage.path", "/srv/rec\nR /etc - - - -"),
    ("spec.recording.storage.path", "{{ lookup('pipe','touch /tmp/x') }}"),
    ("spec.recording.storage.path", "recordings"),
    ("spec.recording.storage.path", "/srv/../etc"),
    ("spec.recording.storage.path", "/srv//rec"),
    ("spec.recording.storage.path", "/srv/rec/"),
    ("spec.recording.storage.path", "/srv/rec cordings"),
    ("spec.recording.storage.path", "/srv/rec\x00"),
    ("spec.recording.storage.path", "/etc"),
    ("spec.recording.storage.path", "/etc/kamailio"),
    ("spec.recording.storage.path", "/srv"),
    ("spec.recording.storage.path", "/srv/" + "a" * 300),
    ("spec.recording.storage.bucket", "Recordings_Bucket"),
    ("spec.recording.storage.bucket", "rec..ordings"),
    ("spec.recording.storage.bucket", "rec\nordings"),
    ("spec.sites[0].ssh.user", "root\nProxyCommand touch /tmp/x"),
    ("spec.sites[0].ssh.user", "-oProxyCommand=touch"),
    ("spec.sites[0].ssh.user", "Root Admin"),
    ("spec.sites[0].ssh.bastion", "jump -oProxyCommand=touch /tmp/x"),
    ("spec.sites[0].ssh.bastion", "jump\nProxyCommand touch /tmp/x"),
    ("spec.sites[0].ssh.bastion", "-Jevil"),
    ("spec.sites[0].ssh.bastion", "a@b@c"),
    ("spec.sites[0].ssh.bastion", "[2001:db8::1"),
    ("spec.sites[0].ssh.bastion", "jump.example.com:99999"),
    ("spec.sites[0].ssh.bastion", "[jump.example.com]:22"),
    ("spec.sites[0].ssh.key", "file:~/.ssh/k\nLocalCommand touch /tmp/x"),
    ("spec.sites[0].ssh.key", "env:SSH_KEY"),
    ("spec.sites[0].ssh.key", "file:relative/key"),
    ("spec.trunks[0].credentials.secret", 'env:X"/><param name="auth-calls" value="false'),
    ("spec.trunks[0].credentials.secret", "env:1X"),
    ("spec.trunks[0].credentials.secret", "env:"),
    ("spec.trunks[0].credentials.secret", "file:/run/../etc/shadow"),
    ("spec.trunks[0].credentials.secret", "file:secrets/sip"),
    ("spec.trunks[0].credentials.secret", "file:~/../root/x"),
    ("spec.trunks[0].credentials.secret", "vault:secret/a b#k"),
    ("spec.trunks[0].credentials.secret", "vault:secret/sip"),
    ("spec.trunks[0].credentials.secret", "vault:../sys#k"),
    ("spec.trunks[0].credentials.secret", "vault:secret/sip#pass word"),
    ("spec.trunks[0].credentials.username", 'carrier"/><param name="x'),
    ("spec.trunks[0].credentials.username", "carrier\nuser"),
    ("spec.trunks[0].peers", ["fe80::1%eth0\nfoo"]),
    ("spec.trunks[0].peers", ["203.0.113.1; drop"]),
    ("spec.sites[0].network.cidr", "fe80::%a b/64"),
    ("spec.ivr[0].greeting", 'welcome.wav"/><action application="system"'),
    ("spec.ivr[0].greeting", "../../../etc/shadow"),
    ("spec.ivr[0].greeting", "http://evil.example/x.wav"),
    ("spec.ivr[0].options.1.say", "${system(touch /tmp/x)}"),
    ("spec.ivr[0].options.1.say", "$${api(reloadxml)}"),
    ("spec.ivr[0].options.1.say", "{ignore_early_media=true}x"),
    ("spec.ivr[0].options.1.say", "shout://evil.example/x.mp3"),
    ("spec.ivr[0].options.1.say", "file_string://a.wav!b.wav"),
    ("spec.ivr[0].options.1.say", "../../etc/shadow"),
    ("spec.ivr[0].options.1.say", "hold\nplease"),
    ("spec.ivr[0].options.1.say", "x" * 201),
    ("spec.ivr[0].language", "de-DE}"),
    ("spec.queues[0].moh", "local_stream://moh\"/><x"),
    ("spec.queues[0].moh", "$${hold_music}"),
]

# real-shaped values of the same fields: all accepted
ACCEPTED: list[tuple[str, Any]] = [
    ("metadata.customer", "Müller & Söhne GmbH"),
    ("metadata.customer", "O'Brien Contact Ltd."),
    ("metadata.customer", "上海浦东发展银行"),
    ("metadata.labels", {"cost-center": "cc-4711", "team.example.com/owner": "ops"}),
    ("spec.timezone", "America/Argentina/Buenos_Aires"),
    ("spec.timezone", "Etc/GMT+5"),
    ("spec.timezones", ["Asia/Shanghai", "UTC"]),
    ("spec.languages", ["zh-Hans-CN", "es-419", "de"]),
    ("spec.recording.storage.path", "/mnt/nas-01/calls_2024"),
    ("spec.recording.storage.path", "/var/spool/trunkline/recordings"),
    ("spec.sites[0].ssh.user", "deploy_2"),
    ("spec.sites[0].ssh.bastion", "deploy@jump.acme.example:2222"),
    ("spec.sites[0].ssh.bastion", "[2001:db8::1]:22"),
    ("spec.sites[0].ssh.bastion", "192.0.2.5"),
    ("spec.sites[0].ssh.key", "file:~/.ssh/acme_deploy"),
    ("spec.sites[0].ssh.key", "file:/etc/trunkline/keys/deploy"),
    ("spec.trunks[0].credentials.secret", "env:CARRIER_A_PASSWORD"),
    ("spec.trunks[0].credentials.secret", "vault:secret/acme/carrier-b#password"),
    ("spec.trunks[0].credentials.secret", "file:/run/secrets/sip.pass"),
    ("spec.trunks[0].credentials.username", "+4930123456"),
    ("spec.ivr[0].greeting", "phrase:welcome"),
    ("spec.ivr[0].greeting", "/usr/share/freeswitch/sounds/custom/welcome.wav"),
    ("spec.ivr[0].options.1.say", "Bitte warten, Sie werden verbunden."),
    ("spec.ivr[0].options.1.say", "请稍候"),
    ("spec.ivr[0].options.1.say", "กรุณารอสักครู่"),  # Thai: letters and combining marks
    ("spec.ivr[0].options.1.say", "ivr/please-hold.wav"),
    ("spec.queues[0].moh", "moh/queue-music.wav"),
]


def _parse(path: str) -> list:
    """'spec.sites[0].ssh.user' -> ['spec', 'sites', 0, 'ssh', 'user']."""
    out: list = []
    for part in path.replace("[", ".[").split("."):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return out


def _doc_with(path: str, value: Any) -> dict:
    doc = YAML(typ="safe").load(BASE.read_text())
    doc["spec"]["ivr"] = copy.deepcopy(IVR)
    doc["spec"]["sites"][0]["ssh"] = dict(SSH)
    node = doc
    parts = _parse(path)
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return doc


def _write(tmp_path, doc: dict):
    path = tmp_path / "center.yaml"
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.width = 10**6  # one line per value, so the reported line is the value's own
    with path.open("w") as f:
        yaml.dump(doc, f)
    return path


def test_the_test_blueprint_with_ivr_and_ssh_is_valid(tmp_path):
    assert load_blueprint(_write(tmp_path, _doc_with("metadata.customer", "Small Shop Ltd"))).metadata.name == "small-shop"


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=[f"{f}={v!r}"[:70] for f, v in HOSTILE])
def test_hostile_value_is_refused_at_its_place(tmp_path, field, value):
    path = _write(tmp_path, _doc_with(field, value))
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    mine = [p for p in info.value.problems if p.path == field or p.path.startswith(field + "[") or p.path.startswith(field + ".")]
    assert mine, f"nothing reported at {field}; got {[str(p) for p in info.value.problems]}"
    problem = mine[0]
    assert (problem.file, problem.line >= 1, problem.column >= 1) == (str(path), True, True)
    line = path.read_text().splitlines()[problem.line - 1]
    key = problem.path.rstrip("]").rsplit("[", 1)[0] if problem.path.endswith("]") else problem.path
    key = key.rsplit("'", 2)[1] if key.endswith("'") else key.rsplit(".", 1)[-1]
    assert key in line or line.lstrip().startswith("- "), f"the line reported is the field's own: {line!r}"
    assert str(problem).startswith(f"{path}:{problem.line}:{problem.column} {problem.path}: ")
    assert problem.fix, "the message says how to fix it"


@pytest.mark.parametrize(("field", "value"), ACCEPTED, ids=[f"{f}={v!r}"[:70] for f, v in ACCEPTED])
def test_real_shaped_value_is_accepted(field, value):
    validate_data(_doc_with(field, value))


def test_hostile_values_do_not_reach_a_plan(tmp_path):
    """The refused values are refused by `plan` too: exit 2, one located line each, no traceback."""
    for field, value in [("spec.timezone", "../../../../etc/shadow"), ("spec.recording.storage.path", "/srv/rec\nR /etc - - - -")]:
        path = _write(tmp_path, _doc_with(field, value))
        run = _cli("plan", path)
        assert run.returncode == 2, run.stderr
        assert f"{path}:" in run.stderr and f" {field}: " in run.stderr
        assert "Traceback" not in run.stderr


def test_blueprint_file_name_with_a_newline_is_refused(tmp_path):
    path = tmp_path / "shop.yaml\n# injected"
    path.write_text(BASE.read_text())
    result = _invoke("validate", path)
    assert result.exit_code == 2 and "file name has control characters" in result.stderr
    assert "\n# injected" not in result.stderr


# --- secrets are never echoed (section 4) ---------------------------------------------------------


def _cli(*args) -> subprocess.CompletedProcess:
    """The real command in its own process: what a user sees on stdout and stderr."""
    return subprocess.run([sys.executable, "-c", "from trunkline.cli import app; app()", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def _invoke(*args):
    """The command in this process (typer's runner keeps stdout and stderr apart)."""
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("expr", [
    "spec.trunks[0].credentials.secret=hunter2",
    "spec.trunks[0].credentials={secret: hunter2}",
    'spec.trunks[0].credentials.secret=env:hunter2"/><x',
    "spec.trunks[0].credentials.secret=[hunter2",
    "spec.trunks[0].credentials.secret hunter2",
    "spec.recording.storage.key=hunter2",
    "spec.sites[0].ssh={key: hunter2}",
])
def test_literal_secret_from_set_is_refused_without_printing_it(command, expr):
    text = _invoke(command, BASE, "--set", expr)
    assert text.exit_code == 2
    assert "hunter2" not in text.stderr + text.stdout
    as_json = _invoke(command, BASE, "--set", expr, "--json")
    assert as_json.exit_code == 2
    assert "hunter2" not in as_json.stdout + as_json.stderr


def test_literal_secret_message_names_the_field_and_the_rule_on_stderr_and_in_json():
    run = _cli("validate", BASE, "--set", "spec.trunks[0].credentials.secret=hunter2")
    assert run.returncode == 2 and "hunter2" not in run.stderr + run.stdout
    assert "--set spec.trunks[0].credentials.secret spec.trunks[0].credentials.secret: a literal secret is not allowed" in run.stderr
    run = _cli("validate", BASE, "--json", "--set", "spec.trunks[0].credentials.secret=hunter2")
    assert run.returncode == 2 and "hunter2" not in run.stderr + run.stdout
    (problem,) = json.loads(run.stdout)["problems"]
    assert problem["path"] == "spec.trunks[0].credentials.secret"
    assert problem["file"] == "--set spec.trunks[0].credentials.secret"
    assert "literal secret is not allowed" in problem["message"] and "env:NAME" in problem["fix"]


def _secret_fields(model: type[BaseModel] = Blueprint, loc: tuple = ()) -> list[tuple]:
    """Every field typed SecretRef, wherever it sits (other sections add their own)."""
    out = []
    for name, field in model.model_fields.items():
        here = loc + (field.alias or name,)
        if SECRET in field.metadata or _holds(field.annotation, SECRET):
            out.append(here)
        for sub in _models_in(field.annotation):
            out.extend(_secret_fields(sub, here + ((0,) if _is_list(field.annotation) else ())))
    return out


def _holds(ann, marker) -> bool:
    return any(a is marker or _holds(a, marker) for a in get_args(ann))


def _models_in(ann) -> list:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for a in get_args(ann) for m in _models_in(a)]


def _is_list(ann) -> bool:
    return getattr(ann, "__origin__", None) is list or any(_is_list(a) for a in get_args(ann))


SECRET_FIELDS = _secret_fields()


def test_secret_fields_are_found():
    assert ("spec", "trunks", 0, "credentials", "secret") in SECRET_FIELDS
    assert ("spec", "sites", 0, "ssh", "key") in SECRET_FIELDS


@pytest.mark.parametrize("loc", SECRET_FIELDS, ids=[".".join(map(str, loc)) for loc in SECRET_FIELDS])
@pytest.mark.parametrize("literal", ["Tr0ub4dor&3", "env:Tr0ub4dor&3", "file:Tr0ub4dor&3", "vault:Tr0ub4dor&3", 31415926, "Tr0ub4dor&3" * 40])
def test_any_secret_field_refuses_a_literal_without_quoting_it(base_data, loc, literal):
    doc = copy.deepcopy(base_data)
    doc["spec"]["sites"][0].setdefault("ssh", {})
    node = doc
    for part, nxt in zip(loc[:-1], loc[1:]):
        if isinstance(part, int):
            node = node[part]
        else:
            node = node.setdefault(part, [{}] if isinstance(nxt, int) else {})
            if isinstance(nxt, int) and not node:
                node.append({})
    node[loc[-1]] = literal
    with pytest.raises(BlueprintError) as info:
        validate_data(doc)
    text = str(info.value) + json.dumps([p.as_dict() for p in info.value.problems])
    assert "Tr0ub4dor" not in text and "31415926" not in text
    assert any(p.path.endswith(str(loc[-1])) for p in info.value.problems), text
