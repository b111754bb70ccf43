"""Commands for cloud sites: `trunkline cloud preview|up|destroy` (the AWS stack, trunkline.cloud).

A group of its own (`app`, added to the main app by name): preview runs the stack program under
Pulumi's mocks, offline; up and destroy need the real Pulumi CLI and exit 2 without it.
"""

from __future__ import annotations

import json

import typer

from trunkline.cli.options import Blueprint, Layers, Sets, load_center
from trunkline.cli.output import err, fail, out, print_json, table
from trunkline.errors import TrunklineError

app = typer.Typer(name="cloud", help="Cloud sites as Pulumi stacks (AWS): preview offline, up and destroy with the Pulumi CLI.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

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
    return ", ".join(parts)


@app.command()
def preview(
    blueprint: Blueprint,
    stack: str = Stack,
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="every resource with all its properties"),
) -> None:
    """List every resource the AWS stack would create, offline (Pulumi's mocks): the program's intent."""
    from trunkline.cloud.mocks import NOTE, preview as run_preview

    try:
        center = load_center(blueprint, layers, sets)
        resources = run_preview(center, stack=stack)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "center": center.name, "stack": stack, "note": NOTE,
                    "resources": [r.as_dict() for r in resources]})
        return
    rows = [(f"{r.type.split(':')[1].split('/')[0]}:{r.type.split(':')[-1]}", r.name, _summary(r.properties)) for r in resources]
    out.print(table("type", "name", "key properties", title=f"{center.name}: AWS stack {stack}, {len(resources)} resources",
                    caption=f"This is {NOTE}.", rows=rows))


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
    """Create or update the center's AWS sites with the Pulumi CLI (Automation API); exit 2 without it."""
    _apply("up", blueprint, stack, layers, sets, as_json)


@app.command()
def destroy(
    blueprint: Blueprint,
    stack: str = typer.Option(..., "--stack", help="the Pulumi stack's name"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="the result as JSON (Pulumi's progress on stderr)"),
) -> None:
    """Delete the stack's AWS resources with the Pulumi CLI; the recordings bucket's locked objects stay until their lock ends."""
    _apply("destroy", blueprint, stack, layers, sets, as_json)
