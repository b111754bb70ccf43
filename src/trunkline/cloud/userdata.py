"""First boot of a cloud instance: the role's packages, exactly the host's rendered files, its secrets.

EC2 user-data holds 16 KB and a media node's files are about 100 KB, so the rendered files of a
host travel as one bundle (`bundle()`: a tar.gz with each file's bytes, owner, group and mode,
byte-for-byte the render's) in the site's private configuration bucket; the user-data script
(`script()`) installs the packages, unpacks the bundle over / (after the packages, so their users
and groups exist) and replaces each @@secret:REF@@ marker by the value it reads from AWS Secrets
Manager under `secret_name(center, REF)`, escaped as the on-prem apply escapes it
(deploys.unmark). Neither the bundle, the user-data nor the Pulumi state holds a secret value.

No pulumi import here: the stack (aws.py) and the tests use it alike.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shlex
import tarfile

from trunkline.deploys import ROLE_DEPLOYS, role_defaults
from trunkline.plan.topology import Plan
from trunkline.render import RenderedFile
from trunkline.roles import CATALOGUE

# what the script itself runs: the AWS CLI (bundle, secrets, elastic IP), Python for the resolver, curl for IMDSv2
BOOT_PACKAGES = ["awscli", "curl", "python3"]
# services a role runs (restarted once the files are in place); FreeSWITCH is not a Debian package


def bundle(files: list[RenderedFile]) -> bytes:
    """The host's rendered files as a tar.gz: same bytes, owner, group and mode; no time stamps, so
    the same render gives the same bundle (and no needless instance replacement)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(files, key=lambda f: f.path):
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(f.content), int(f.mode, 8), 0
            info.uname, info.gname, info.uid, info.gid = f.owner, f.group, 0, 0
            tar.addfile(info, io.BytesIO(f.content))
    return gzip.compress(raw.getvalue(), mtime=0)


def secret_name(center: str, ref: str) -> str:
    """The Secrets Manager name that holds the value of blueprint reference `ref` for `center`:
    env:CARRIER_PASSWORD -> trunkline/acme/env/CARRIER_PASSWORD, vault:kv/sip#pw -> .../vault/kv/sip/pw."""
    scheme, _, rest = ref.partition(":")
    rest = rest.replace("~", "home").replace("#", "/").strip("/")
    return f"trunkline/{center}/{scheme}/{re.sub(r'[^A-Za-z0-9/_+=.@-]', '-', rest)}"


def packages(plan: Plan, role: str) -> list[str]:
    """Debian packages of the host's roles, as the Ansible roles and pyinfra deploys install them
    (their defaults), plus what the boot script needs. FreeSWITCH comes from SignalWire's repository
    or the project's tarball (scripts/freeswitch), not from Debian: media nodes get it separately."""
    out = list(BOOT_PACKAGES)
    for name in ["common", *ROLE_DEPLOYS[role]]:
        d = role_defaults(name)
        out += d.get(f"{name}_packages", []) if name != "freeswitch" else []
    if role == "media" and plan.recording["mode"] != "none" and plan.recording["format"] == "opus":
        out += role_defaults("freeswitch")["freeswitch_opus_packages"]  # opusenc: FreeSWITCH records wav, then encodes
    if role == "recording" and plan.recording["storage"]["kind"] == "nfs":
        out += role_defaults("recording_storage")["recording_storage_nfs_packages"]
    return list(dict.fromkeys(out))


def services(plan: Plan, role: str) -> list[str]:
    return [*CATALOGUE["common"].units, *CATALOGUE[role].units]


# A secret's value as deploys.unmark places it (render/escape.secret_value), in python3 run on the
# instance or in a pod: XML-escaped in .xml files, one line without control characters elsewhere
# (needs sys and unicodedata imported). Shared by the AWS user-data and the Kubernetes init container.
ESCAPED = r'''XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
def escaped(v, path):
    if path.endswith(".xml"):
        if any(ord(c) < 32 and c not in "\t\n\r" or 0xd800 <= ord(c) <= 0xdfff or c in "\ufffe\uffff" for c in v):
            sys.exit(f"{path}: a secret value holds control characters that XML cannot hold (value not shown)")
        return "".join(XML.get(c, c) for c in v)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in v):
        sys.exit(f"{path}: a secret value holds a line break or control character (value not shown)")
    return v
'''

# Run on the instance by python3: the markers of the given files replaced by the secrets' values,
# with deploys.unmark's rules (render/escape.secret_value): XML-escaped in .xml files, one line
# without control characters elsewhere. Owner, group and mode stay the bundle's.
RESOLVER = r'''
import json, os, subprocess, sys, tempfile, time, unicodedata
root, region, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
TRIES, PAUSE = 90, 20  # the operator puts the values after `up` made the secrets: wait up to 30 minutes
''' + ESCAPED + r'''def value(ref, cache={}):
    for attempt in range(TRIES):
        if ref in cache:
            break
        out = subprocess.run(["aws", "secretsmanager", "get-secret-value", "--region", region, "--secret-id", names[ref],
                              "--query", "SecretString", "--output", "text"], capture_output=True, text=True)
        if out.returncode == 0:
            cache[ref] = out.stdout.rstrip("\n")
        elif attempt + 1 == TRIES:
            sys.exit(f"secret {names[ref]}: no value after {TRIES * PAUSE // 60} minutes: put it with aws secretsmanager put-secret-value")
        else:
            print(f"secret {names[ref]}: no value yet, retrying in {PAUSE} s", file=sys.stderr)
            time.sleep(PAUSE)
    return cache[ref]
for path, refs in json.loads(sys.stdin.read()).items():
    full = os.path.join(root, path.lstrip("/"))
    text = open(full, encoding="utf-8").read()
    for ref in refs:
        text = text.replace("@@secret:" + ref + "@@", escaped(value(ref), path))
    st = os.stat(full)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full))
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.replace(tmp, full)
'''

# The proxy pair's elastic IP follows keepalived's VRRP master: the master holds the plan's VIP on
# its interface, and this service moves the elastic IP to whichever proxy holds it.
EIP_FOLLOWER = r'''#!/bin/sh
# trunkline: the elastic IP follows the VRRP master (keepalived puts the VIP on it). Args: ALLOCATION VIP DEV REGION
set -u
alloc=$1 vip=$2 dev=$3 region=$4 held=
md() { t=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) &&
       curl -sf -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/meta-data/$1"; }
me=$(md instance-id) || exit 1
while sleep 1; do
  if ip -o -4 addr show dev "$dev" | grep -q " $vip/"; then
    [ -n "$held" ] || { aws ec2 associate-address --region "$region" --allocation-id "$alloc" --instance-id "$me" \
                          --allow-reassociation >/dev/null && held=yes; }
  else
    held=
  fi
done
'''


def script(plan: Plan, host: str, files: list[RenderedFile], *, bucket: str, key: str, region: str,
           eip: tuple[str, str] | None = None) -> str:
    """The user-data of `host`: a POSIX shell script. `bucket`/`key` name its bundle; `eip` is
    (allocation id, VIP) on an elastic-IP proxy pair. TRUNKLINE_ROOT (default /) lets a test run it
    into a folder with stand-in commands."""
    h = plan.host(host)
    marked = {f.path: list(dict.fromkeys(f.secrets)) for f in files if f.secrets}
    names = {ref: secret_name(plan.center, ref) for refs in marked.values() for ref in refs}
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# trunkline: first boot of {host} ({h.role}, site {h.site}, center {plan.center}, from {plan.source}).",
        "# The host's rendered files come as one bundle; secrets are read here from AWS Secrets Manager, by name:",
        "# no secret value is written in this script.",
        "set -eu",
        'root="${TRUNKLINE_ROOT:-/}"',
        "export DEBIAN_FRONTEND=noninteractive",
        "apt-get update -q",
        f"apt-get install -y -q --no-install-recommends {' '.join(q(p) for p in packages(plan, h.role))}",
        'bundle=$(mktemp)',
        f"aws s3 cp --only-show-errors --region {q(region)} {q(f's3://{bucket}/{key}')} \"$bundle\"",
        "# owners and modes as rendered: the packages above made the users and groups",
        'tar -xzf "$bundle" -C "$root" --same-owner --same-permissions --no-overwrite-dir',
        'rm -f "$bundle"',
    ]
    if marked:
        lines += [f"python3 -c {q(RESOLVER)} \"$root\" {q(region)} {q(json.dumps(names, sort_keys=True))} <<'TRUNKLINE_SECRETS'",
                  json.dumps(marked, sort_keys=True), "TRUNKLINE_SECRETS"]
    if eip:
        alloc, vip = eip
        lines += [
            'mkdir -p "$root/usr/local/sbin" "$root/etc/systemd/system"',
            "cat > \"$root/usr/local/sbin/trunkline-eip-follower\" <<'TRUNKLINE_EIP'",
            EIP_FOLLOWER.rstrip("\n"), "TRUNKLINE_EIP",
            'chmod 0755 "$root/usr/local/sbin/trunkline-eip-follower"',
            "cat > \"$root/etc/systemd/system/trunkline-eip-follower.service\" <<'TRUNKLINE_UNIT'",
            "[Unit]", "Description=trunkline: the elastic IP follows the VRRP master", "After=keepalived.service",
            "[Service]", f"ExecStart=/usr/local/sbin/trunkline-eip-follower {alloc} {vip} {h.interface} {region}",
            "Restart=always", "[Install]", "WantedBy=multi-user.target", "TRUNKLINE_UNIT",
        ]
    lines += ["systemctl daemon-reload"]
    lines += [f"systemctl restart {q(s)}" for s in services(plan, h.role)]
    if eip:
        lines += ["systemctl enable --now trunkline-eip-follower.service"]
    if h.role == "media":
        lines += ["echo 'trunkline: FreeSWITCH is not a Debian package: install it with scripts/freeswitch/install.sh' >&2"]
    return "\n".join(lines) + "\n"

