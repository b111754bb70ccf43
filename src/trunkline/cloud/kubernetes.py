"""The Kubernetes stack: every `kind: cloud, provider: kubernetes` site of a plan as Kubernetes objects.

`build_stack(center, config)` is the whole Pulumi program (stacks/kubernetes/__main__.py only calls
it); like the AWS stack it reads the plan and the rendered files (center.files, the render manifest's
files with their bytes, owner and mode), never the YAML. In one namespace per center:

  files     a ConfigMap per plan host holding exactly its rendered files (text in data, anything not
            UTF-8 in binaryData), each mounted at its path with its mode; files with @@secret:REF@@
            markers are resolved at pod start by an init container from a Secret the operator creates
            (`<center>-secrets`, one key per reference): no value in a ConfigMap, the stack or the state
  hosts     one workload per plan host, pinned (nodeSelector trunkline.io/host=<host>) to the node that
            holds the host's plan address, with host networking: the rendered files bind and name the
            plan's addresses (Kamailio's listen and dispatcher lists, rtpengine's interface, FreeSWITCH's
            local_ip_v4), RTP needs the node's own ports, and keepalived moves the VIP on the node.
            Kamailio (+ keepalived in a pair) and rtpengine: Deployments of one replica, Recreate (two
            pods cannot hold one node's ports); FreeSWITCH: a StatefulSet per media host; a recording
            store: a StatefulSet holding the store's claim and its retention job
  drains    PodDisruptionBudgets (at most one pod of a role of a site down at a time; one proxy of a pair
            stays); preStop hooks that drain as `trunkline rollout` does; a termination grace period
            at least the longest call the blueprint lets a drain wait for (grace_period_s)
  security  capabilities dropped but what each program needs, read-only root file systems, no privilege
            escalation, RuntimeDefault seccomp

`manifests(resources)` turns the recorded inputs into Kubernetes manifests and `validate()` checks them
against the API's JSON schema of KUBERNETES_VERSION, offline (kubernetes-validate).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from trunkline.cloud import CloudError, stack_sites, userdata
from trunkline.paths import ROLES
from trunkline.plan.topology import Host, Plan, SitePlan
from trunkline.render import RenderedFile

KUBERNETES_VERSION = "1.32.0"  # the API schema the manifests are validated against (kubernetes-validate)
CONFIGMAP_MAX_BYTES = 1024 * 1024  # etcd's object limit: a host's files must fit in one ConfigMap
LABEL = "trunkline.io"
# community images by default: pin your own builds with `pulumi config set --path images.<program>`
IMAGES = {
    "kamailio": "docker.io/kamailio/kamailio:5.8.4-bookworm",
    "keepalived": "docker.io/osixia/keepalived:2.0.20",
    "rtpengine": "docker.io/drachtio/rtpengine:latest",
    "freeswitch": "docker.io/safarov/freeswitch:1.10.12",
    "resolver": "docker.io/library/python:3.12-slim",
    "retention": "docker.io/library/busybox:1.36",
}
# seconds FreeSWITCH takes to stop once its calls are gone (unload modules, flush CDRs); on top of the drain
STOP_MARGIN_S = 30
# a proxy's Kamailio waits this long before it stops: keepalived (SIGTERM at once) hands the VIP to the
# peer with a priority-0 advert, which takes it within 3 adverts (0.1 s each); calls keep their route
PROXY_HANDOVER_S = 2
RESOLVED = "/trunkline/resolved"  # the init container writes files with resolved secrets here (memory)


@dataclass(frozen=True)
class StackConfig:
    """What the blueprint does not say and a deployment must (Pulumi stack config, stacks/kubernetes/Pulumi.yaml)."""

    namespace: str | None = None  # default trunkline-<center>
    secret: str | None = None  # the operator's Secret with the references' values; default <center>-secrets
    storage_class: str | None = None  # the recordings' claims; default the cluster's default class
    images: dict = field(default_factory=dict)  # program -> image, over IMAGES

    @classmethod
    def from_pulumi(cls) -> "StackConfig":
        cfg = pulumi.Config()
        return cls(namespace=cfg.get("namespace") or None, secret=cfg.get("secret") or None,
                   storage_class=cfg.get("storageClass") or None, images=cfg.get_object("images") or {})

    def image(self, program: str) -> str:
        return self.images.get(program, IMAGES[program])


def grace_period_s(plan: Plan) -> int:
    """How long Kubernetes lets a media pod drain before it kills it: the longest call the blueprint
    lets a drain wait for, plus FreeSWITCH's stop. Two bounds, the larger wins: upgrades.drain_timeout
    (how long `trunkline rollout` waits for a drained host's calls, after which they end with the
    restart), and a call that spends the IVR time, the longest queue max_wait and then the plan's
    talk time (handle time less wrap-up) on the line."""
    queued = plan.sizing.ivr_time_s + max((q["max_wait"] for q in plan.queues), default=0) + plan.sizing.talk_s
    return math.ceil(max(plan.upgrades["drain_timeout"], queued)) + STOP_MARGIN_S


def drain_bound_s(plan: Plan) -> int:
    """How long a preStop hook waits for calls: the grace period less the stop's margin."""
    return grace_period_s(plan) - STOP_MARGIN_S


def file_key(path: str) -> str:
    """A file's key in its host's ConfigMap: its path with '.' for '/' (keys allow [-._a-zA-Z0-9])."""
    key = re.sub(r"[^-._a-zA-Z0-9]", "-", path.strip("/").replace("/", "."))
    return key if not key.startswith("..") else f"f{key}"


def secret_key(center: str, ref: str) -> str:
    """The key of reference `ref` in the operator's Secret: the Secrets Manager name of the AWS stack
    without trunkline/<center>/, dotted (env:EU_TRUNK_PASSWORD -> env.EU_TRUNK_PASSWORD)."""
    return userdata.secret_name(center, ref).split("/", 2)[2].replace("/", ".")


def _keys(files: list[RenderedFile]) -> dict[str, RenderedFile]:
    keys: dict[str, RenderedFile] = {}
    for f in sorted(files, key=lambda f: f.path):
        key = file_key(f.path)
        if key in keys:
            raise CloudError(f"host {f.host}: {keys[key].path} and {f.path} would share ConfigMap key {key}")
        keys[key] = f
    return keys


def config_map_data(files: list[RenderedFile]) -> tuple[dict[str, str], dict[str, str]]:
    """(data, binaryData) of a host's ConfigMap: each file's bytes, as text when they are UTF-8, else base64."""
    data, binary = {}, {}
    for key, f in _keys(files).items():
        try:
            data[key] = f.content.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(f.content).decode()
    return data, binary


# Run by the init container (python3 in the resolver image): each marked file from the ConfigMap, its
# @@secret:REF@@ markers replaced by the value in the mounted Secret, escaped as deploys.unmark does
# (XML-escaped in .xml files, one line without control characters elsewhere), written with its mode
# to the in-memory volume the programs' containers mount it from. argv: the JSON of
# {key: [path, mode, {ref: secret key}]}. TRUNKLINE_ROOT (default /) lets a test run it in a folder.
RESOLVER = r'''
import json, os, sys, unicodedata
root = os.environ.get("TRUNKLINE_ROOT", "/")
MARKED, SECRETS, OUT = (os.path.join(root, "trunkline", d) for d in ("marked", "secrets", "resolved"))
''' + userdata.ESCAPED + r'''def value(key):
    try:
        return open(os.path.join(SECRETS, key), encoding="utf-8").read().rstrip("\n")
    except FileNotFoundError:
        sys.exit(f"the Secret has no key {key}: kubectl create secret generic ... --from-literal={key}=...")
for key, (path, mode, refs) in json.loads(sys.argv[1]).items():
    text = open(os.path.join(MARKED, key), encoding="utf-8").read()
    for ref, skey in refs.items():
        text = text.replace("@@secret:" + ref + "@@", escaped(value(skey), path))
    out = os.path.join(OUT, key)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(out, int(mode, 8))
'''


def _labels(plan: Plan, h: Host) -> dict:
    return {"app.kubernetes.io/part-of": "trunkline", f"{LABEL}/center": plan.center, f"{LABEL}/site": h.site,
            f"{LABEL}/role": h.role, f"{LABEL}/host": h.name}


def _security(add: tuple[str, ...] = ()) -> dict:
    """A container's securityContext: every capability dropped but `add`, read-only root, no escalation."""
    caps = {"drop": ["ALL"]} | ({"add": sorted(add)} if add else {})
    return {"capabilities": caps, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}


def _exec(script: str) -> dict:
    return {"exec": {"command": ["/bin/sh", "-c", script]}}


def _scratch(*paths: str) -> tuple[list[dict], list[dict]]:
    """(volumes, mounts) of the scratch folders (emptyDir) a program writes to under a read-only root;
    the pod's containers that get the same mounts share them (Kamailio's RPC socket for keepalived)."""
    vols = [{"name": f"scratch-{i}", "emptyDir": {}} for i, _ in enumerate(paths)]
    mounts = [{"name": f"scratch-{i}", "mountPath": p} for i, p in enumerate(paths)]
    return vols, mounts


@dataclass
class _Files:
    """A host's rendered files as volumes: the ConfigMap, and for marked files the resolver's output."""

    config_map: str
    keys: dict[str, RenderedFile]

    @property
    def marked(self) -> dict[str, RenderedFile]:
        return {k: f for k, f in self.keys.items() if f.secrets}

    def volumes(self, secret: str) -> list[dict]:
        items = [{"key": k, "path": k, "mode": int(f.mode, 8)} for k, f in self.keys.items()]
        vols = [{"name": "files", "configMap": {"name": self.config_map, "items": items, "defaultMode": 0o644}}]
        if self.marked:
            vols += [{"name": "secrets", "secret": {"secretName": secret, "defaultMode": 0o400, "optional": False}},
                     {"name": "resolved", "emptyDir": {"medium": "Memory"}}]  # resolved values never touch the node's disk
        return vols

    def mounts(self) -> list[dict]:
        """Every file at its path: from the ConfigMap, or (marked) from the resolver's output."""
        return [{"name": "resolved" if f.secrets else "files", "mountPath": f.path, "subPath": k, "readOnly": True}
                for k, f in self.keys.items()]

    def init_containers(self, plan: Plan, config: StackConfig) -> list[dict]:
        if not self.marked:
            return []
        job = {k: [f.path, f.mode, {r: secret_key(plan.center, r) for r in dict.fromkeys(f.secrets)}]
               for k, f in self.marked.items()}
        return [{"name": "resolve-secrets", "image": config.image("resolver"),
                 "command": ["python3", "-c", RESOLVER, json.dumps(job, sort_keys=True)],
                 "securityContext": _security(),
                 "volumeMounts": [{"name": "files", "mountPath": "/trunkline/marked", "readOnly": True},
                                  {"name": "secrets", "mountPath": "/trunkline/secrets", "readOnly": True},
                                  {"name": "resolved", "mountPath": RESOLVED}]}]


def _sip_ports(plan: Plan, site: SitePlan) -> set[int]:
    return {t.port for t in plan.trunks if site.name in t.sites} | {5060, 5061}


def _proxy_containers(plan: Plan, s: SitePlan, h: Host, files: _Files, config: StackConfig) -> tuple[list, list]:
    """Kamailio, and keepalived on a proxy of a pair; they share /run/kamailio (keepalived's check
    script asks Kamailio's RPC socket there). Memory requests: the plan's -m and -M for every worker."""
    vols, scratch = _scratch("/run", "/tmp")
    low_port = ("NET_BIND_SERVICE",) if min(_sip_ports(plan, s)) < 1024 else ()
    workers = s.kamailio_children + s.kamailio_tcp_children
    kamailio = {
        "name": "kamailio", "image": config.image("kamailio"),
        # as the Debian unit runs it, with the plan's memory from the rendered /etc/default/kamailio; no -u/-g:
        # the files are root's (ConfigMaps carry modes, not owners) and the capabilities are dropped anyway
        "command": ["/bin/sh", "-c", '. /etc/default/kamailio && exec kamailio -DD -E -f "$CFGFILE" '
                    '-m "$SHM_MEMORY" -M "$PKG_MEMORY"'],
        "securityContext": _security(low_port),
        "resources": {"requests": {"memory": f"{s.kamailio_shm_mb + s.kamailio_pkg_mb * workers}Mi"}},
        "lifecycle": {"preStop": _exec(f"sleep {PROXY_HANDOVER_S}")},
        "volumeMounts": files.mounts() + scratch,
    }
    containers = [kamailio]
    if h.ha:
        containers.append({
            "name": "keepalived", "image": config.image("keepalived"),
            "command": ["keepalived", "--dont-fork", "--log-console", "-f", "/etc/keepalived/keepalived.conf"],
            # the VIP on the node's interface (NET_ADMIN), VRRP adverts and gratuitous ARP (NET_RAW, NET_BROADCAST)
            "securityContext": _security(("NET_ADMIN", "NET_BROADCAST", "NET_RAW")),
            "volumeMounts": files.mounts() + scratch,
        })
    return containers, vols


def _rtpengine_containers(plan: Plan, files: _Files, config: StackConfig) -> tuple[list, list]:
    conf = next(f for f in files.keys.values() if f.path == "/etc/rtpengine/rtpengine.conf")
    # kernel forwarding (table >= 0) needs the iptables/nftables target: NET_ADMIN; userspace (-1) nothing
    kernel = not re.search(rb"^\s*table\s*=\s*-1\s*$", conf.content, re.M)
    vols, scratch = _scratch("/run", "/tmp")
    bound = drain_bound_s(plan)
    # as the rollout waits for a relay: its own sessions (rtpengine's CLI on loopback) down to 0, bounded
    drain = (f"t=0; while [ $t -lt {bound} ]; do n=$(rtpengine-ctl -ip 127.0.0.1 -port 9900 list numsessions "
             "2>/dev/null | sed -n 's/.*own: *\\([0-9]*\\).*/\\1/p'); [ \"${n:-0}\" -eq 0 ] && break; "
             "sleep 2; t=$((t + 2)); done")
    return [{
        "name": "rtpengine", "image": config.image("rtpengine"),
        "command": ["rtpengine", "--foreground", "--log-stderr", "--config-file", conf.path],
        "securityContext": _security(("NET_ADMIN", "NET_RAW") if kernel else ()),
        "lifecycle": {"preStop": _exec(drain)},
        "volumeMounts": files.mounts() + scratch,
    }], vols


ESL_PASSWORD = "/trunkline/esl/password"  # the event socket's password (fs_cli), from the operator's Secret


def media_drain(plan: Plan) -> str:
    """The media pods' preStop: as `trunkline rollout` drains a node, FreeSWITCH refuses new calls
    (the proxies' dispatcher takes the next node on its 503), then its calls end by themselves,
    waited for at most drain_bound_s."""
    return (f'fs() {{ fs_cli -p "$(cat {ESL_PASSWORD})" -x "$1"; }}; fs "fsctl pause inbound"; '
            f"t=0; while [ $t -lt {drain_bound_s(plan)} ]; do "
            'n=$(fs "show calls count" | sed -n "s/^\\([0-9][0-9]*\\) total.*/\\1/p"); '
            '[ "${n:-0}" -eq 0 ] && break; sleep 2; t=$((t + 2)); done')


def _local_recordings(plan: Plan) -> bool:
    return plan.recording["mode"] != "none" and plan.recording["storage"]["kind"] == "local"


def _retention(plan: Plan, config: StackConfig, settings: str | None) -> dict:
    """The recording store's retention (roles/recording_storage's trunkline-retention, daily), on the
    pod's claim: the rendered /etc/default/trunkline-retention on a store, the same figures on a media node."""
    env = ([{"name": "TRUNKLINE_RETENTION_SETTINGS", "value": "/dev/null"},
            {"name": "TRUNKLINE_RETENTION_DIR", "value": plan.recording["storage"]["path"]},
            {"name": "TRUNKLINE_RETENTION_DAYS", "value": str(plan.sizing.retention_days)}] if settings is None else [])
    return {"name": "retention", "image": config.image("retention"),
            "command": ["/bin/sh", "-c", "while :; do sh /trunkline/retention/trunkline-retention; sleep 86400; done"],
            "env": env, "securityContext": _security(),
            "volumeMounts": [{"name": "retention-job", "mountPath": "/trunkline/retention", "readOnly": True},
                             {"name": "recordings", "mountPath": plan.recording["storage"]["path"]}]}


def _claim_gib(plan: Plan, s: SitePlan, share: int) -> int:
    """A recordings claim: the retention's storage, split by the concurrent calls each non-standby site
    carries (a standby's are what it takes over), over `share` claims of the site; whole GiB, at least 1."""
    calls = sum(x.concurrent_calls for x in plan.sites if x.role != "standby") or 1
    site_bytes = plan.sizing.storage_bytes * s.concurrent_calls / calls
    return max(1, math.ceil(site_bytes / share / 2**30))


def _claim(plan: Plan, s: SitePlan, share: int, config: StackConfig) -> dict:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{_claim_gib(plan, s, share)}Gi"}}}
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return {"metadata": {"name": "recordings"}, "spec": spec}


def _media_containers(plan: Plan, files: _Files, config: StackConfig, secret: str) -> tuple[list, list]:
    vols, scratch = _scratch("/run", "/tmp", "/var/lib/freeswitch", "/var/log/freeswitch")
    # the preStop's fs_cli needs the event socket's password: only that key of the Secret, read-only
    vols.append({"name": "esl", "secret": {"secretName": secret, "defaultMode": 0o400, "items": [
        {"key": secret_key(plan.center, plan.security["event_socket_password"]), "path": "password"}]}})
    mounts = files.mounts() + scratch + [{"name": "esl", "mountPath": ESL_PASSWORD.rsplit("/", 1)[0], "readOnly": True}]
    if _local_recordings(plan):
        mounts.append({"name": "recordings", "mountPath": plan.recording["storage"]["path"]})
    containers = [{
        "name": "freeswitch", "image": config.image("freeswitch"),
        "command": ["freeswitch", "-nonat", "-nf", "-nc", "-conf", "/etc/freeswitch", "-log", "/var/log/freeswitch",
                    "-db", "/var/lib/freeswitch/db"],
        # real-time priority for the audio threads; every port it binds is above 1024
        "securityContext": _security(("SYS_NICE",)),
        "lifecycle": {"preStop": _exec(media_drain(plan))},
        "volumeMounts": mounts,
    }]
    if _local_recordings(plan):
        containers.append(_retention(plan, config, None))
    return containers, vols


def _recording_containers(plan: Plan, files: _Files, config: StackConfig) -> tuple[list, list]:
    job = _retention(plan, config, "/etc/default/trunkline-retention")
    job["volumeMounts"] = files.mounts() + job["volumeMounts"]
    return [job], []


def _pod(plan: Plan, s: SitePlan, h: Host, files: _Files, config: StackConfig, secret: str, grace: int | None) -> dict:
    builders = {"sip-proxy": lambda: _proxy_containers(plan, s, h, files, config),
                "rtpengine": lambda: _rtpengine_containers(plan, files, config),
                "media": lambda: _media_containers(plan, files, config, secret),
                "recording": lambda: _recording_containers(plan, files, config)}
    containers, scratch = builders[h.role]()
    volumes = files.volumes(secret) + scratch
    if any(m["name"] == "retention-job" for c in containers for m in c["volumeMounts"]):
        volumes.append({"name": "retention-job", "configMap": {"name": "trunkline-retention", "defaultMode": 0o555}})
    spec = {
        "hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet",
        "nodeSelector": {f"{LABEL}/host": h.name},  # the node that holds h.address (the operator labels it)
        "enableServiceLinks": False, "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": files.init_containers(plan, config), "containers": containers, "volumes": volumes,
    }
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"labels": _labels(plan, h)}, "spec": spec}


def build_stack(center, config: StackConfig | None = None) -> dict:
    """Every Kubernetes object of the center's kubernetes sites; returns the stack's outputs (also exported)."""
    config = config or StackConfig()
    plan: Plan = center.plan
    sites = stack_sites(plan, "kubernetes", "Kubernetes")
    if plan.recording["mode"] != "none" and plan.recording["storage"]["kind"] == "nfs":
        raise CloudError("recording.storage.kind nfs: an NFS server in a pod would need privileges the stack does not "
                         "give; on Kubernetes set kind local (each media pod records to its own claim) or s3/oss")
    ns_name = (config.namespace or f"trunkline-{plan.center}")[:63].rstrip("-")
    secret = config.secret or f"{plan.center}-secrets"
    # Pod Security's baseline level refuses host networking and these capabilities: the namespace says privileged
    ns = k8s.core.v1.Namespace("namespace", metadata={"name": ns_name, "labels": {
        f"{LABEL}/center": plan.center, "pod-security.kubernetes.io/enforce": "privileged"}})
    opts = pulumi.ResourceOptions(depends_on=[ns])
    files_of: dict[str, list[RenderedFile]] = {}
    for f in center.files:
        files_of.setdefault(f.host, []).append(f)
    hosts = [h for s in sites for h in plan.hosts_of(s.name)]
    if any(h.role == "recording" for h in hosts) or _local_recordings(plan):
        job = (ROLES / "recording_storage" / "files" / "trunkline-retention").read_text()  # the on-prem store's own job
        k8s.core.v1.ConfigMap("trunkline-retention", metadata={"name": "trunkline-retention", "namespace": ns_name},
                              data={"trunkline-retention": job}, opts=opts)
    outputs: dict = {"namespace": ns_name, "secret": secret, "sites": {}}
    for s in sites:
        outputs["sites"][s.name] = _site(plan, s, files_of, ns_name, secret, config, opts)
    refs = sorted({r for h in hosts for f in files_of.get(h.name, []) for r in f.secrets})
    outputs["secret_keys"] = [secret_key(plan.center, r) for r in refs]
    for k, v in outputs.items():
        pulumi.export(k, v)
    return outputs


def _site(plan: Plan, s: SitePlan, files_of: dict, ns: str, secret: str, config: StackConfig, opts) -> dict:
    hosts = plan.hosts_of(s.name)
    grace = grace_period_s(plan)
    out = {}
    for h in hosts:
        files = _files(plan, h, files_of.get(h.name, []), ns, opts)
        meta = {"name": h.name, "namespace": ns, "labels": _labels(plan, h)}
        selector = {"matchLabels": {f"{LABEL}/host": h.name}}
        if h.role in ("sip-proxy", "rtpengine"):
            pod = _pod(plan, s, h, files, config, secret, grace if h.role == "rtpengine" else None)
            k8s.apps.v1.Deployment(h.name, metadata=meta, spec={
                "replicas": 1, "selector": selector, "template": pod,
                "strategy": {"type": "Recreate"},  # the node's ports: the old pod must be gone first
            }, opts=opts)
            out[h.name] = "Deployment"
        else:
            # One StatefulSet per host, not one per site with replicas: a StatefulSet's pods share one
            # template, so they could not each mount their own host's files (vars.xml names its address,
            # the store its path); one per host keeps every host's rendered bytes exact, and still gives
            # the pod a stable name and its own recordings claim.
            pod = _pod(plan, s, h, files, config, secret, grace if h.role == "media" else None)
            claims = [_claim(plan, s, s.media_nodes if h.role == "media" else 1, config)] \
                if (h.role == "recording" or _local_recordings(plan)) else []
            k8s.apps.v1.StatefulSet(h.name, metadata=meta, spec={
                "replicas": 1, "selector": selector, "serviceName": f"{s.name}-{h.role}", "template": pod,
                "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                "volumeClaimTemplates": claims,
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            }, opts=opts)
            out[h.name] = "StatefulSet"
    for role in dict.fromkeys(h.role for h in hosts):
        labels = {f"{LABEL}/site": s.name, f"{LABEL}/role": role}
        if role in ("media", "recording"):  # the StatefulSets' governing (headless) Service
            k8s.core.v1.Service(f"{s.name}-{role}", metadata={"name": f"{s.name}-{role}", "namespace": ns, "labels": labels},
                                spec={"clusterIP": "None", "selector": labels}, opts=opts)
        # one pod of a role at a time: with a proxy pair, one proxy always holds the VIP
        k8s.policy.v1.PodDisruptionBudget(f"{s.name}-{role}", metadata={"name": f"{s.name}-{role}", "namespace": ns},
                                          spec={"maxUnavailable": 1, "selector": {"matchLabels": labels}}, opts=opts)
    return out


def _files(plan: Plan, h: Host, files: list[RenderedFile], ns: str, opts) -> _Files:
    size = sum(len(f.content) for f in files)
    if size > CONFIGMAP_MAX_BYTES:
        raise CloudError(f"host {h.name}: its rendered files hold {size:,} bytes, more than a ConfigMap's 1 MiB")
    data, binary = config_map_data(files)
    name = f"{h.name}-files"
    k8s.core.v1.ConfigMap(name, metadata={"name": name, "namespace": ns, "labels": _labels(plan, h)},
                          data=data or None, binary_data=binary or None, opts=opts)
    return _Files(name, _keys(files))


# --- manifests and their validation (offline) ---

def manifests(resources) -> list[dict]:
    """The Kubernetes objects of recorded resources (mocks.Resource): their inputs with apiVersion and
    kind from the type token (kubernetes:apps/v1:StatefulSet -> apps/v1, StatefulSet)."""
    out = []
    for r in resources:
        if not r.type.startswith("kubernetes:"):
            continue
        _, group_version, kind = r.type.split(":")
        group, version = group_version.split("/")
        api = version if group == "core" else f"{group}/{version}"
        out.append({**r.properties, "apiVersion": api, "kind": kind})
    return out


def validate(manifest: dict, version: str = KUBERNETES_VERSION) -> None:
    """Raise CloudError when `manifest` does not follow the API's schema of `version` (strict: no
    unknown fields), offline with kubernetes-validate's bundled schemas."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        name = manifest.get("metadata", {}).get("name")
        raise CloudError(f"{manifest.get('kind')} {name}: {exc.message} at {'.'.join(map(str, exc.path))}") from None
