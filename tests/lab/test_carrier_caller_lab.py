"""The carrier's FreeSWITCH caller in the lab: acme-bank up with FreeSWITCH on its media nodes, calls
from the carriers' namespaces through the VIP over TLS (the proxy's certificate checked against the
lab CA), SRTP (acme-bank requires it) and Kamailio to a media node, whose IVR the caller's RFC 2833
digits move. carrier-b declares its CA (mutual TLS): its calls need the carrier's client certificate.

One lab for the module, always taken down; run under the lab lock (tests/lab of the project rules).
"""

from __future__ import annotations

import csv
import os
import threading
import time
from pathlib import Path

import pytest

from trunkline.center import load as load_center
from trunkline.targets import lab
from trunkline.targets.lab.caller import SRTP_SUITE, carrier_caller, start_caller
from trunkline.targets.lab.media import fs_api

from shared import ROOT, needs_freeswitch

ACME = ROOT / "blueprints" / "acme-bank.yaml"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")


def _carrier_pki(out: Path) -> dict[str, Path]:
    """carrier-b's own CA and the client certificate its SBC presents."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carrier-b test CA")])

    def build(subject, pub, ca):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(pub)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))

    paths = {"ca": out / "carrier-b-ca.crt", "cert": out / "sbc.crt", "key": out / "sbc.key"}
    paths["ca"].write_bytes(build(ca_name, ca_key.public_key(), True).public_bytes(serialization.Encoding.PEM))
    sbc = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbc.carrier-b.example")])
    paths["cert"].write_bytes(build(sbc, key.public_key(), False).public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    needs_freeswitch()
    pki = _carrier_pki(tmp_path_factory.mktemp("carrier-b"))
    center = load_center(ACME, [f"spec.trunks[1].tls.ca=file:{pki['ca']}"])
    try:
        state = lab.up(center)
        assert state.media == "freeswitch", state.media_note
        yield state, center.plan, pki
    finally:
        lab.down(center.plan.center)


def _channels(state, plan) -> list[dict]:
    """Every media node's channels (`show channels`: CSV rows, then "N total.")."""
    rows = []
    for h in plan.hosts:
        if h.role == "media":
            lines = [line for line in fs_api(state, h.name, "show channels").splitlines() if "," in line]
            rows += [dict(r, node=h.name) for r in csv.DictReader(lines)]
    return rows


def test_a_tls_srtp_call_through_the_vip_reaches_the_queue_its_digit_chose(acme):
    state, plan, _ = acme
    t0 = time.monotonic()
    with carrier_caller(state, plan) as caller:  # carrier-a: TLS, the VIP's certificate checked against the lab CA
        started = time.monotonic() - t0
        seen: list[list[dict]] = []
        result: list = []
        call = threading.Thread(target=lambda: result.append(caller.call(dtmf="1", dtmf_at_s=2.0, hold_s=6.0)))
        call.start()
        time.sleep(4.5)  # the digit went at 2 s after answer; the IVR transfers to the queue at once
        seen.append(_channels(state, plan))
        call.join(30)
    assert result, "the call did not end within its bound"
    r = result[0]
    print(f"caller ready in {started:.1f} s; {r}")
    assert caller.transport == "tls" and caller.port == 5061
    assert r.answered and r.sip_status == 200 and r.hangup_cause == "NORMAL_CLEARING", r
    assert r.srtp == SRTP_SUITE and r.dtmf_sent == "1" and r.rtp["out_dtmf_packet_count"] > 0
    # audio came back through rtpengine (the node's prompt; an agent's SIPp sends none): half a second at least
    assert r.rtp["in_media_packet_count"] > 25
    # IVR main, option 1: the cards queue, waiting there or already with an agent of a pool that has the skill
    inbound = [c for c in seen[0] if c["direction"] == "inbound"]
    assert len(inbound) == 1 and inbound[0]["dest"] == "cards", seen[0]
    assert inbound[0]["application"] == "callcenter" or inbound[0]["callee_num"].startswith(("retail-", "fraud-")), inbound


def test_mutual_tls_with_the_carriers_certificate_and_a_clear_refusal_without(acme):
    state, plan, pki = acme
    with carrier_caller(state, plan, "carrier-b", client=(pki["cert"], pki["key"])) as caller:
        r = caller.call(hold_s=3.0)
    assert caller.transport == "tls" and r.answered and r.srtp == SRTP_SUITE, r
    with pytest.raises(lab.LabError, match="requires mutual TLS"):  # the edge would drop its calls
        with carrier_caller(state, plan, "carrier-b"):
            pass


def test_a_caller_that_does_not_trust_the_edges_certificate_places_no_call(acme, tmp_path):
    state, plan, pki = acme
    t = plan.trunks[0]
    # carrier-b's CA did not sign the proxies' certificates: the handshake fails on the caller's side
    with start_caller(lab.carrier_ns(plan.center, t.name), t.peers[0], tmp_path, target=plan.site(t.sites[0]).vip,
                      port=t.port, transport="tls", srtp=True, ca=pki["ca"], certs=state.dir / "caller-cert") as caller:
        r = caller.call(hold_s=2.0, answer_timeout_s=5)
    assert not r.answered and r.sip_status != 200 and r.ended_at - r.started_at < 5 + 5, r


def test_concurrent_calls_through_the_edge_are_all_answered(acme):
    state, plan, _ = acme
    with carrier_caller(state, plan) as caller:
        results = caller.calls(10, 5.0, hold_s=4.0)
    assert all(r.answered and r.srtp == SRTP_SUITE for r in results), [(r.sip_status, r.hangup_cause) for r in results]
