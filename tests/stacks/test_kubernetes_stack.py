"""The Kubernetes stack under Pulumi's mocks (offline), for every example blueprint with a cloud site,
its first cloud site switched to `provider: kubernetes` with --set: one workload per plan host, host
networking, FreeSWITCH as StatefulSets, ConfigMaps that are the rendered files byte for byte, no secret
value anywhere, disruption budgets, draining preStop hooks, a grace period at least the longest call,
and every manifest valid against the Kubernetes API's schema (kubernetes-validate, offline)."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stacks_shared import CLOUD_EXAMPLES, of_type

from trunkline import center as pipeline

pytest.importorskip("pulumi_kubernetes", reason="pulumi-kubernetes is not installed (the cloud extra)")
pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed (the cloud extra)")

from trunkline.cloud import CloudError, kubernetes as k8s_stack, kubernetes_sites  # noqa: E402
from trunkline.cloud.mocks import NOTE, preview_all, preview_kubernetes  # noqa: E402
from trunkline.deploys import unmark  # noqa: E402
from trunkline.render import RenderedFile  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
examples = pytest.mark.parametrize("path", CLOUD_EXAMPLES, ids=[p.stem for p in CLOUD_EXAMPLES])
GLOBAL = next(p for p in CLOUD_EXAMPLES if p.stem == "global-support")
SENTINEL = "Sentinel-&<v\"al'ue>-k8s"  # XML-special on purpose: the .xml files must get it escaped
WORKLOADS = ("apps/v1:Deployment", "apps/v1:StatefulSet")


def k8s_sets(path) -> list[str]:
    """--set expressions that put the example's first cloud site on Kubernetes."""
    i = next(i for i, s in enumerate(pipeline.load(path).blueprint.spec.sites) if s.kind == "cloud")
    return [f"spec.sites[{i}].provider=kubernetes"]


@functools.cache
def stack(path, extra: tuple[str, ...] = ()):
    """(center, the Kubernetes stack's resources) of an example with its first cloud site on Kubernetes."""
    c = pipeline.load(path, [*k8s_sets(path), *extra])
    return c, preview_kubernetes(c)


def workloads(resources) -> dict:
    return {r.name: r for r in resources if r.type.endswith(WORKLOADS)}


def pod(r) -> dict:
    return r.properties["spec"]["template"]["spec"]


def k8s_hosts(center) -> list:
    return [h for s in kubernetes_sites(center.plan) for h in center.plan.hosts_of(s.name)]


@examples
def test_every_plan_host_of_a_kubernetes_site_has_exactly_one_workload_pinned_to_its_node(path):
    center, resources = stack(path)
    hosts = k8s_hosts(center)
    assert hosts, "the --set put no site on Kubernetes"
    got = workloads(resources)
    assert sorted(got) == sorted(h.name for h in hosts), "workloads are not exactly the plan's hosts of the site"
    for h in hosts:
        r = got[h.name]
        assert r.properties["spec"]["replicas"] == 1, f"{h.name}: more than one pod for one plan host"
        assert pod(r)["nodeSelector"] == {"trunkline.io/host": h.name}, f"{h.name}: not pinned to its node"
    others = {h.name for h in center.plan.hosts} - {h.name for h in hosts}
    assert not others & set(got), "a workload for a host of another site"


@examples
def test_every_pod_uses_host_networking_and_the_cluster_dns(path):
    center, resources = stack(path)
    for name, r in workloads(resources).items():
        spec = pod(r)
        assert spec["hostNetwork"] is True, f"{name}: no host networking (RTP and the plan's addresses need it)"
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet", f"{name}: dnsPolicy {spec.get('dnsPolicy')}"
    roles = {center.plan.host(n).role for n in workloads(resources)}
    assert {"sip-proxy", "rtpengine"} <= roles, "no Kamailio or rtpengine workload to check"
    (ns,) = of_type(resources, "core/v1:Namespace")
    assert ns.properties["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged", \
        "Pod Security's baseline level would refuse host networking"


@examples
def test_freeswitch_runs_as_a_statefulset_and_proxies_and_relays_as_recreated_deployments(path):
    center, resources = stack(path)
    for name, r in workloads(resources).items():
        role = center.plan.host(name).role
        want = "StatefulSet" if role in ("media", "recording") else "Deployment"
        assert r.type.endswith(want), f"{name} ({role}) is a {r.type}"
        if want == "Deployment":
            assert r.properties["spec"]["strategy"] == {"type": "Recreate"}, f"{name}: two pods would want one node's ports"
    media = [n for n in workloads(resources) if center.plan.host(n).role == "media"]
    assert media and all(c["name"] == "freeswitch" for n in media for c in pod(workloads(resources)[n])["containers"][:1])


def _config_maps(resources) -> dict[str, dict[str, bytes]]:
    """host -> {key: bytes} of its files ConfigMap (data and binaryData)."""
    out = {}
    for r in of_type(resources, "core/v1:ConfigMap"):
        if r.name.endswith("-files"):
            data = {k: v.encode() for k, v in (r.properties.get("data") or {}).items()}
            data |= {k: base64.b64decode(v) for k, v in (r.properties.get("binaryData") or {}).items()}
            out[r.name.removesuffix("-files")] = data
    return out


@examples
def test_each_config_map_is_exactly_the_hosts_rendered_files(path):
    center, resources = stack(path)
    maps = _config_maps(resources)
    assert sorted(maps) == sorted(h.name for h in k8s_hosts(center)), "one files ConfigMap per host"
    for host, data in maps.items():
        files = [f for f in center.files if f.host == host]
        assert data == {k8s_stack.file_key(f.path): f.content for f in files}, f"{host}: ConfigMap is not its rendered files"


@examples
def test_every_file_is_mounted_at_its_path_with_its_mode(path):
    center, resources = stack(path)
    for name, r in workloads(resources).items():
        spec = pod(r)
        (files,) = [v["configMap"] for v in spec["volumes"] if v["name"] == "files"]
        modes = {i["key"]: f"{i['mode']:04o}" for i in files["items"]}
        for f in (f for f in center.files if f.host == name):
            key = k8s_stack.file_key(f.path)
            assert modes[key] == f.mode, f"{name}:{f.path}: mode {modes[key]}, rendered {f.mode}"
            for c in spec["containers"][:1]:  # the program's own container
                mounts = [m for m in c["volumeMounts"] if m["mountPath"] == f.path]
                assert mounts == [{"name": "resolved" if f.secrets else "files", "mountPath": f.path, "subPath": key,
                                   "readOnly": True}], f"{name}:{f.path}: mounted as {mounts}"


def test_text_goes_to_data_and_other_bytes_to_binary_data():
    files = [RenderedFile("h", "/etc/a.conf", "t", "é\n".encode(), "0644", "root", "root", ()),
             RenderedFile("h", "/etc/b.bin", "t", b"\xff\xfe\x00", "0600", "root", "root", ())]
    data, binary = k8s_stack.config_map_data(files)
    assert data == {"etc.a.conf": "é\n"} and base64.b64decode(binary["etc.b.bin"]) == b"\xff\xfe\x00"


def test_no_secret_value_reaches_config_maps_or_any_input(monkeypatch):
    center, _ = stack(GLOBAL)
    refs = {r for f in center.files for r in f.secrets}
    assert refs, "the example's files reference no secret"
    for ref in refs:
        if ref.startswith("env:"):
            monkeypatch.setenv(ref[4:], SENTINEL)
    resources = preview_kubernetes(center)
    for r in resources:
        assert SENTINEL not in json.dumps(r.properties), f"{r.name}: a secret value in the stack's inputs"
    assert not of_type(resources, "core/v1:Secret"), "the stack makes a Secret (its value would be in the state)"
    marked = [f for f in center.files if f.secrets and f.host in {h.name for h in k8s_hosts(center)}]
    assert marked, "no marked file on the Kubernetes site"
    for f in marked:
        (w,) = [workloads(resources)[f.host]]
        (init,) = pod(w)["initContainers"]
        assert init["name"] == "resolve-secrets", f"{f.host}: {f.path} is marked but no init container resolves it"


def test_the_init_container_resolves_markers_as_the_on_prem_apply(tmp_path):
    center, resources = stack(GLOBAL)
    host = next(h.name for h in k8s_hosts(center) if h.role == "media")
    (init,) = pod(workloads(resources)[host])["initContainers"]
    assert init["command"][:2] == ["python3", "-c"] and init["command"][2] == k8s_stack.RESOLVER
    job = json.loads(init["command"][3])
    marked, secrets, resolved = (tmp_path / "trunkline" / d for d in ("marked", "secrets", "resolved"))
    for d in (marked, secrets, resolved):
        d.mkdir(parents=True)
    files = {k8s_stack.file_key(f.path): f for f in center.files if f.host == host}
    for key, f in files.items():
        (marked / key).write_bytes(f.content)
    for _, _, refs in job.values():
        for skey in refs.values():
            (secrets / skey).write_text(SENTINEL + "\n")  # kubectl --from-file keeps a final newline
    done = subprocess.run([sys.executable, "-c", k8s_stack.RESOLVER, init["command"][3]], capture_output=True, text=True,
                          env={**os.environ, "TRUNKLINE_ROOT": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(job) == sorted(k for k, f in files.items() if f.secrets), "the job is not the marked files"
    for key in job:
        f = files[key]
        want = unmark(f.content.decode(), f.path, {r: SENTINEL for r in f.secrets}).encode()
        assert (resolved / key).read_bytes() == want, f"{host}:{f.path}: not resolved as the on-prem apply resolves it"
        assert f"{(resolved / key).stat().st_mode & 0o7777:04o}" == f.mode, f"{host}:{f.path}: mode"


@examples
def test_a_disruption_budget_per_role_of_each_site_lets_one_pod_down(path):
    center, resources = stack(path)
    budgets = {r.name: r.properties["spec"] for r in of_type(resources, "policy/v1:PodDisruptionBudget")}
    for s in kubernetes_sites(center.plan):
        for role in {h.role for h in center.plan.hosts_of(s.name)}:
            spec = budgets.get(f"{s.name}-{role}")
            assert spec, f"{s.name}: no PodDisruptionBudget for {role}"
            assert spec["maxUnavailable"] == 1
            assert spec["selector"]["matchLabels"] == {"trunkline.io/site": s.name, "trunkline.io/role": role}
    for name, r in workloads(resources).items():  # every pod is under its budget's selector
        labels = r.properties["spec"]["template"]["metadata"]["labels"]
        h = center.plan.host(name)
        assert labels["trunkline.io/site"] == h.site and labels["trunkline.io/role"] == h.role, name


def longest_call(center) -> int:
    """The longest call the blueprint lets a drain wait for: the rollout's drain timeout, or the IVR,
    the longest queue wait and the talk time, whichever is longer."""
    p = center.plan
    return max(p.upgrades["drain_timeout"],
               p.sizing.ivr_time_s + max((q["max_wait"] for q in p.queues), default=0) + p.sizing.talk_s)


@pytest.mark.parametrize("extra", [(), ("spec.upgrades.drain_timeout=2h",), ("spec.queues[0].max_wait=3h",)],
                         ids=["as-written", "long-drain", "long-queue"])
def test_media_pods_drain_like_the_rollout_within_a_grace_period_at_least_the_longest_call(extra):
    center, resources = stack(GLOBAL, extra)
    longest = longest_call(center)
    media = [r for n, r in workloads(resources).items() if center.plan.host(n).role == "media"]
    assert media
    for r in media:
        spec = pod(r)
        assert spec["terminationGracePeriodSeconds"] >= longest, f"{r.name}: grace {spec['terminationGracePeriodSeconds']} s"
        hook = " ".join(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"])
        assert "fsctl pause inbound" in hook and "show calls count" in hook, f"{r.name}: preStop does not drain"
        assert hook.index("fsctl pause inbound") < hook.index("show calls count"), "waits before pausing"
        assert f"-lt {k8s_stack.drain_bound_s(center.plan)} ]" in hook, f"{r.name}: the wait is not bounded by the drain"
        assert k8s_stack.drain_bound_s(center.plan) >= longest
    for n, r in workloads(resources).items():
        if center.plan.host(n).role == "rtpengine":
            assert pod(r)["terminationGracePeriodSeconds"] >= longest, f"{n}: a relay's calls are cut before the drain ends"


FS_CLI = """#!/bin/sh
echo "$*" >> "$TL_LOG"
case "$*" in
  *"show calls count"*) n=$(cat "$TL_CALLS"); printf '\\n%s total.\\n' "$n"; echo $((n > 0 ? n - 1 : 0)) > "$TL_CALLS" ;;
  *) echo "+OK" ;;
esac
"""


def test_the_media_prestop_pauses_then_waits_for_the_calls_to_end(tmp_path):
    """The hook itself, run by sh with a stand-in fs_cli whose node has 2 calls that end one per poll."""
    center, resources = stack(GLOBAL)
    media = next(r for n, r in workloads(resources).items() if center.plan.host(n).role == "media")
    hook = pod(media)["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    (tmp_path / "fs_cli").write_text(FS_CLI)
    (tmp_path / "fs_cli").chmod(0o755)
    (tmp_path / "password").write_text("pw")
    (tmp_path / "calls").write_text("2")
    script = hook[2].replace(k8s_stack.ESL_PASSWORD, str(tmp_path / "password"))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "TL_LOG": str(tmp_path / "log"),
           "TL_CALLS": str(tmp_path / "calls")}
    done = subprocess.run(hook[:2] + [script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    asked = (tmp_path / "log").read_text().splitlines()
    assert asked == ["-p pw -x fsctl pause inbound"] + ["-p pw -x show calls count"] * 3, asked


def test_longer_drains_give_longer_grace():
    short, _ = stack(GLOBAL)
    long_, _ = stack(GLOBAL, ("spec.upgrades.drain_timeout=2h",))
    assert k8s_stack.grace_period_s(long_.plan) >= 7200 > k8s_stack.grace_period_s(short.plan)


ALLOWED_CAPS = {"kamailio": {"NET_BIND_SERVICE"}, "keepalived": {"NET_ADMIN", "NET_BROADCAST", "NET_RAW"},
                "rtpengine": {"NET_ADMIN", "NET_RAW"}, "freeswitch": {"SYS_NICE"}, "resolve-secrets": set(), "retention": set()}


@examples
def test_containers_drop_every_capability_but_their_programs_and_have_read_only_roots(path):
    _, resources = stack(path)
    for name, r in workloads(resources).items():
        for c in pod(r)["containers"] + pod(r).get("initContainers", []):
            sc = c["securityContext"]
            assert sc["capabilities"]["drop"] == ["ALL"], f"{name}/{c['name']}: capabilities not dropped"
            assert set(sc["capabilities"].get("add", [])) <= ALLOWED_CAPS[c["name"]], f"{name}/{c['name']}: {sc}"
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, f"{name}/{c['name']}"
            assert not sc.get("privileged"), f"{name}/{c['name']}: privileged"


@examples
def test_every_manifest_follows_the_kubernetes_api_schema(path):
    _, resources = stack(path)
    manifests = k8s_stack.manifests(resources)
    assert len(manifests) == len(resources) and {"Namespace", "ConfigMap", "Deployment", "StatefulSet",
                                                  "PodDisruptionBudget"} <= {m["kind"] for m in manifests}
    for m in manifests:
        k8s_stack.validate(m)


def test_the_schema_check_refuses_an_unknown_field_and_a_wrong_type():
    _, resources = stack(GLOBAL)
    (sts,) = k8s_stack.manifests([next(r for r in resources if r.type.endswith("StatefulSet"))])
    bad = json.loads(json.dumps(sts))
    bad["spec"]["template"]["spec"]["containers"][0]["hostNetwork"] = True  # a pod field, not a container's
    with pytest.raises(CloudError, match="hostNetwork"):
        k8s_stack.validate(bad)
    bad = json.loads(json.dumps(sts))
    bad["spec"]["replicas"] = "1"
    with pytest.raises(CloudError, match="spec.replicas"):
        k8s_stack.validate(bad)


def test_local_recordings_get_a_claim_per_media_pod_and_a_store_with_its_retention():
    center, resources = stack(GLOBAL, ("spec.recording.storage.kind=local",))
    path = center.plan.recording["storage"]["path"]
    for name, r in workloads(resources).items():
        role = center.plan.host(name).role
        claims = r.properties["spec"].get("volumeClaimTemplates", [])
        if role in ("media", "recording"):
            assert [c["metadata"]["name"] for c in claims] == ["recordings"], f"{name}: no recordings claim"
            mounts = {m["mountPath"] for c in pod(r)["containers"] for m in c["volumeMounts"] if m["name"] == "recordings"}
            assert mounts == {path}, f"{name}: the claim is mounted at {mounts}, not {path}"
            assert "retention" in [c["name"] for c in pod(r)["containers"]], f"{name}: nothing deletes recordings past retention"
    assert any(center.plan.host(n).role == "recording" for n in workloads(resources)), "no recording store"
    _, on_s3 = stack(GLOBAL)
    assert not any(r.properties["spec"].get("volumeClaimTemplates") for r in workloads(on_s3).values()), \
        "a recordings claim although recordings go to object storage"


def test_an_nfs_store_is_refused_with_the_reason():
    with pytest.raises(CloudError, match="NFS server in a pod"):
        stack(GLOBAL, ("spec.recording.storage.kind=nfs",))


def test_a_blueprint_without_kubernetes_sites_yields_no_kubernetes_resources():
    center = pipeline.load(GLOBAL)
    stacks = preview_all(center)
    assert list(stacks) == ["aws"] and not any(r.type.startswith("kubernetes:") for r in stacks["aws"])
    with pytest.raises(CloudError, match="no site has kind: cloud and provider: kubernetes"):
        preview_kubernetes(center)


def test_a_mixed_center_previews_both_stacks():
    center = pipeline.load(GLOBAL, k8s_sets(GLOBAL))  # fra1 on Kubernetes, sin1 still on AWS
    stacks = preview_all(center)
    assert list(stacks) == ["aws", "kubernetes"]
    assert {r.name for r in stacks["aws"] if r.type == "aws:ec2/instance:Instance"} == \
        {h.name for h in center.plan.hosts_of("sin1")}
    assert set(workloads(stacks["kubernetes"])) == {h.name for h in center.plan.hosts_of("fra1")}


def test_each_stack_needs_only_its_own_provider_package(monkeypatch):
    from trunkline.cloud import CloudToolMissing

    cloudshop = next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop")
    monkeypatch.setitem(sys.modules, "pulumi_aws", None)  # as if pulumi-aws were not installed
    stacks = preview_all(pipeline.load(cloudshop, k8s_sets(cloudshop)))
    assert list(stacks) == ["kubernetes"] and workloads(stacks["kubernetes"])
    with pytest.raises(CloudToolMissing, match="the AWS stack needs pulumi-aws"):
        preview_all(pipeline.load(GLOBAL))
    monkeypatch.undo()  # pulumi-aws back; now without pulumi-kubernetes
    monkeypatch.setitem(sys.modules, "pulumi_kubernetes", None)
    assert list(preview_all(pipeline.load(GLOBAL))) == ["aws"]
    with pytest.raises(CloudToolMissing, match="the Kubernetes stack needs pulumi-kubernetes"):
        preview_all(pipeline.load(cloudshop, k8s_sets(cloudshop)))


runner = CliRunner()


def test_cli_preview_json_lists_kubernetes_resources_and_says_it_is_the_programs_intent():
    from trunkline.cli import app

    cloudshop = next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop")
    result = runner.invoke(app, ["cloud", "preview", str(cloudshop), "--set", k8s_sets(cloudshop)[0], "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["note"] == NOTE and "not a preview from AWS or from a Kubernetes cluster" in body["note"]
    assert body["stacks"] == ["kubernetes"] and body["kubernetes_schema"]["version"] == k8s_stack.KUBERNETES_VERSION
    kinds = {r["type"] for r in body["resources"]}
    assert {"kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap"} <= kinds
    assert body["kubernetes_schema"]["manifests"] == len(body["resources"])


def test_cli_preview_table_names_the_kubernetes_stack():
    from trunkline.cli import app

    cloudshop = str(next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop"))
    result = runner.invoke(app, ["cloud", "preview", cloudshop, "--set", "spec.sites[0].provider=kubernetes"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Kubernetes stack" in result.stdout and "apps:StatefulSet" in result.stdout and "intent" in result.stdout


@pytest.mark.parametrize("verb", ["up", "destroy"])
def test_up_and_destroy_of_a_kubernetes_center_without_the_pulumi_cli_exit_2(verb, tmp_path, monkeypatch):
    from trunkline.cli import app

    cloudshop = str(next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop"))
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(app, ["cloud", verb, cloudshop, "--set", "spec.sites[0].provider=kubernetes",
                                 "--stack", "prod", "--json"])
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["error"] == "CloudToolMissing" and "get.pulumi.com" in body["message"]


def test_the_pulumi_project_runs_its_thin_main_with_the_stack_config(monkeypatch, tmp_path):
    """stacks/kubernetes/__main__.py under the mocks, as `pulumi up` in stacks/kubernetes would run it."""
    import runpy

    from shared import ROOT

    from trunkline.cloud.automation import PROJECTS
    from trunkline.cloud.mocks import run

    project = PROJECTS["kubernetes"]
    main = ROOT / "stacks" / "kubernetes" / "__main__.py"
    assert f"name: {project}\n" in (main.parent / "Pulumi.yaml").read_text()
    cloudshop = next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop")
    layer = tmp_path / "on-kubernetes.yaml"  # a layer: what --set does on the command line
    layer.write_text("spec:\n  sites:\n    - name: hz-cloud\n      provider: kubernetes\n")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{project}:blueprint": f"{cloudshop},{layer}",
                                                     f"{project}:namespace": "contact-center"}))
    resources = run(lambda: runpy.run_path(str(main)), project=project, stack="prod", kind="kubernetes")
    names = {r.properties["metadata"]["name"] for r in resources if r.type.endswith("core/v1:Namespace")}
    assert names == {"contact-center"}, "the stack config's namespace is not used"
    assert "hz-cloud-media1" in {r.name for r in resources if r.type.endswith("StatefulSet")}
