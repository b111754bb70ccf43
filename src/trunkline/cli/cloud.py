"""Commands for cloud sites: `trunkline cloud preview|up|destroy` (the AWS and Kubernetes stacks, trunkline.cloud).

A group of its own (`app`, added to the main app by name): preview runs the stack program under
Pulumi's mocks, offline; up and destroy need the real Pulumi CLI and exit 2 without it.
"""

from __future__ import annotations

import json

import typer

from trunkline.cli.options import Blueprint, Layers, Sets, load_center
from trunkline.cli.output import err, fail, out, print_json, table
from trunkline.errors import TrunklineError

app = typer.Typer(name="cloud", help="Cloud sites as Pulumi stacks (AWS, Kubernetes): preview offline, up and destroy "
                  "with the Pulumi CLI.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

Stack = typer.Option("preview", "--stack", help="the Pulumi stack's name (e.g. prod, staging)")
# what the table shows of a resource; the rest is in --json
KEY_PROPERTIES = ("cidrBlock", "availabilityZone", "instanceType", "privateIp", "region", "bucket", "name", "type",
                  "retentionInDays", "destinationCidrBlock", "loadBalancerType", "port", "protocol", "ipAddress", "key")


def _summary(props: dict) -> str:
    parts = [f"{k}={props[k]}" for k in KEY_PROPERTIES if props.get(k) not in (None, "", [])]
    if "ingress" in props:
        parts.append(f"ingress: {len(props['ingress'])} rules")
    if "metadataOptions" in props:
        parts.append(f"imds tokens={props['metadataOptions'].get('httpTokens')}")
    if "enableKeyRotation" in props:
        parts.append(f"rotation={props['enableKeyRotation']}")
    if "rule" in props and "defaultRetention" in props["rule"]:
        r = props["rule"]["defaultRetention"]
        parts.append(f"object lock {r.get('mode')} {r.get('days')} days")
    return ", ".join(parts + _kubernetes_summary(props))


def _kubernetes_summary(props: dict) -> list[str]:
    """A Kubernetes object's name, namespace and what matters of its spec (workloads, budgets)."""
    meta, spec = props.get("metadata") or {}, props.get("spec") or {}
    parts = [f"{k}={meta[k]}" for k in ("name", "namespace") if meta.get(k)]
    pod = (spec.get("template") or {}).get("spec") or {}
    if pod:
        parts.append(f"containers={','.join(c['name'] for c in pod.get('containers', []))}")
        parts += [f"{k}={pod[k]}" for k in ("hostNetwork", "terminationGracePeriodSeconds") if k in pod]
        parts += [f"node {k}={v}" for k, v in (pod.get("nodeSelector") or {}).items()]
    if "maxUnavailable" in spec:
        parts.append(f"maxUnavailable={spec['maxUnavailable']}")
    if "data" in props or "binaryData" in props:
        parts.append(f"files={len(props.get('data') or {}) + len(props.get('binaryData') or {})}")
    return parts


@app.command()
def preview(
    blueprint: Blueprint,
    stack: str = Stack,
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="every resource with all its properties"),
) -> None:
    """List every resource the center's cloud stacks (AWS, Kubernetes) would create, offline (Pulumi's
    mocks): the programs' intent. Kubernetes objects are also checked against the API's schema."""
    from trunkline.cloud.mocks import NOTE, preview_all

    try:
        center = load_center(blueprint, layers, sets)
        stacks = preview_all(center, stack=stack)
        checked = _validate_kubernetes(stacks.get("kubernetes"))
    except TrunklineError as exc:
        fail(exc, as_json)
    resources = [r for rs in stacks.values() for r in rs]
    if as_json:
        print_json({"ok": True, "center": center.name, "stack": stack, "stacks": list(stacks), "note": NOTE,
                    **({"kubernetes_schema": checked} if checked else {}), "resources": [r.as_dict() for r in resources]})
        return
    names = {"aws": "AWS", "kubernetes": "Kubernetes"}
    rows = [(f"{r.type.split(':')[1].split('/')[0]}:{r.type.split(':')[-1]}", r.name, _summary(r.properties)) for r in resources]
    schema = (f" The {checked['manifests']} Kubernetes manifests follow the Kubernetes {checked['version']} API schema "
              "(checked offline)." if checked else "")
    out.print(table("type", "name", "key properties",
                    title=f"{center.name}: {' and '.join(names[k] for k in stacks)} stack {stack}, {len(resources)} resources",
                    caption=f"This is {NOTE}.{schema}", rows=rows))


def _validate_kubernetes(resources) -> dict | None:
    """The Kubernetes stack's manifests checked against the API's schema (a CloudError names the first
    that does not follow it); what was checked, or None without a Kubernetes stack."""
    if not resources:
        return None
    from trunkline.cloud import kubernetes

    manifests = kubernetes.manifests(resources)
    for m in manifests:
        kubernetes.validate(m)
    return {"version": kubernetes.KUBERNETES_VERSION, "manifests": len(manifests)}


def _apply(verb: str, blueprint, stack, layers, sets, as_json: bool) -> None:
    from trunkline.cloud import automation

    try:
        center = load_center(blueprint, layers, sets)
        say = (lambda line: err.print(line, markup=False, highlight=False)) if as_json else print
        result = automation.up(center, stack, say) if verb == "up" else automation.destroy(center, stack, say)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "center": center.name, "stack": stack, "outputs": result or {}}, default=str)
    elif result:
        out.print(json.dumps(result, indent=2, default=str), markup=False, highlight=False)


@app.command()
def up(
    blueprint: Blueprint,
    stack: str = typer.Option(..., "--stack", help="the Pulumi stack's name (e.g. prod)"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="the stack's outputs as JSON (Pulumi's progress on stderr)"),
) -> None:
    """Create or update the center's cloud stacks (AWS, Kubernetes) with the Pulumi CLI (Automation API); exit 2 without it."""
    _apply("up", blueprint, stack, layers, sets, as_json)


@app.command()
def destroy(
    blueprint: Blueprint,
    stack: str = typer.Option(..., "--stack", help="the Pulumi stack's name"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="the result as JSON (Pulumi's progress on stderr)"),
) -> None:
    """Delete the stacks' resources with the Pulumi CLI; the recordings bucket's locked objects (AWS) and the
    recordings' claims (Kubernetes, retained) stay."""
    _apply("destroy", blueprint, stack, layers, sets, as_json)
