"""roles/tls with pyinfra: the host's certificate, key and CA from references resolved at apply time."""

from __future__ import annotations

import io

from pyinfra.api import deploy
from pyinfra.operations import files

from trunkline.deploys import HostJob


def material(job: HostJob) -> list[tuple[str, str, str]]:
    """(file name, reference, mode) for the references the host has; the key is not world-readable."""
    v = job.vars
    wanted = [(f"{job.name}.crt", v.get("tls_certificate_ref"), "0644"), (f"{job.name}.key", v.get("tls_private_key_ref"), "0640"),
              ("ca.crt", v.get("tls_ca_ref"), "0644")]
    return [(name, ref, mode) for name, ref, mode in wanted if ref]


@deploy("tls")
def run(job: HostJob) -> None:
    v = job.vars
    if not v.get("tls_certificate_ref"):
        return
    files.directory(name="Create the folder of the TLS material", path=v["tls_dir"], user="root", group=v["tls_group"], mode="0750")
    for name, ref, mode in material(job):
        job.notify("restart kamailio", files.put(
            name=f"Place the TLS material of the host: {name}", src=io.BytesIO(job.secrets[ref].encode()),
            dest=f"{v['tls_dir']}/{name}", user="root", group=v["tls_group"], mode=mode))
    cas = v.get("tls_carrier_ca_refs") or []
    if cas:  # trunks[].tls.ca: the carriers' CAs, one bundle that tls.cfg checks client certificates against
        bundle = "".join(job.secrets[ref].strip() + "\n" for ref in cas)
        job.notify("restart kamailio", files.put(
            name="Place the CA certificates the trunks declare as one bundle, for mutual TLS with those carriers",
            src=io.BytesIO(bundle.encode()), dest=f"{v['tls_dir']}/carriers-ca.crt", user="root", group=v["tls_group"], mode="0644"))


def handlers(job: HostJob) -> None:
    """Kamailio reads the material; its handlers check and restart it (`restart kamailio`)."""
