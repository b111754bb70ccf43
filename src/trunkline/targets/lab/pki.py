"""A throwaway certificate authority for the lab: a CA, a certificate per SIP proxy, and one per TLS
carrier (the SIP server certificate its SBC would hold from a public CA; the lab's proxies trust the
lab CA as they trust the public ones, see filesystems.place_files)."""

from __future__ import annotations

from pathlib import Path

from trunkline.plan.topology import Plan


def make_lab_pki(plan: Plan, out: Path) -> None:
    """ca.crt plus <host>.crt/.key for every SIP proxy, the VIP and the host address as SANs, and
    carrier-<trunk>.crt/.key for every TLS trunk, its peer addresses as SANs."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"trunkline lab CA ({plan.center})")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (out / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # the carriers' CAs that trunks declare (tls.ca: file:...), one bundle as the tls role places it
    cas = [Path(t.tls_ca_ref.removeprefix("file:")).read_bytes() for t in plan.trunks if t.tls_ca_ref]
    if cas:
        (out / "carriers-ca.crt").write_bytes(b"".join(c if c.endswith(b"\n") else c + b"\n" for c in cas))

    def issue(name: str, cn: str, sans: list) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(ca_key, hashes.SHA256()))
        (out / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (out / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    for host in plan.hosts:
        if host.role != "sip-proxy":
            continue
        sans = [x509.DNSName(host.name), x509.IPAddress(ipaddress.ip_address(host.address))]
        if host.ha:
            sans.append(x509.IPAddress(ipaddress.ip_address(host.ha.vip)))
        issue(host.name, host.name, sans)
    for t in plan.trunks:
        if t.transport == "tls":
            issue(f"carrier-{t.name}", f"{t.name} SBC", [x509.IPAddress(ipaddress.ip_address(p)) for p in t.peers])
