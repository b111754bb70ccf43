"""Secret references are resolved at apply time only: env: and file: work, vault: is refused clearly."""

from __future__ import annotations

import pytest

from onprem_support import BLUEPRINT, cli
from trunkline.deploys import unmark
from trunkline.targets.onprem import SecretError, matches_around_markers, resolve_secret, resolve_secrets


def test_an_env_reference_gives_the_variables_value(monkeypatch):
    monkeypatch.setenv("TL_TEST_SECRET", "v4lue")
    assert resolve_secret("env:TL_TEST_SECRET") == "v4lue"


def test_a_missing_env_variable_is_named_with_the_fix(monkeypatch):
    monkeypatch.delenv("TL_TEST_MISSING", raising=False)
    with pytest.raises(SecretError, match="TL_TEST_MISSING is not set; export it"):
        resolve_secret("env:TL_TEST_MISSING")


def test_a_relative_file_reference_is_read_from_its_base(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text("PEM\n")
    assert resolve_secret("file:pki/ca.crt", base=tmp_path) == "PEM\n"


def test_a_vault_reference_is_refused_with_what_to_do_instead():
    with pytest.raises(SecretError, match="vault: references are not supported by this version.*env:NAME or file:PATH"):
        resolve_secret("vault:secret/acme/carrier-b#password")


def test_every_unresolvable_reference_is_reported_at_once(monkeypatch):
    monkeypatch.delenv("TL_A", raising=False)
    with pytest.raises(SecretError) as caught:
        resolve_secrets({"env:TL_A": (["h1:/etc/a"], None), "vault:x#y": (["h2:/etc/b"], None)})
    assert "env:TL_A" in str(caught.value) and "vault:x#y" in str(caught.value) and "nothing was changed" in str(caught.value)


def test_apply_stops_before_any_host_when_a_secret_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("CARRIER_A_PASSWORD", raising=False)
    result = cli("apply", BLUEPRINT, "--chroot", tmp_path / "roots", "--limit", "sh-dc1-media1", "--inventory", tmp_path / "inv",
                 "--build", tmp_path / "build")
    assert result.exit_code == 2
    assert "env:CARRIER_A_PASSWORD: the environment variable CARRIER_A_PASSWORD is not set" in result.output
    assert "vault:secret/acme/carrier-b#password: vault: references are not supported" in result.output
    assert not (tmp_path / "roots").exists()


def test_markers_in_xml_get_the_value_escaped():
    text = '<param name="password" value="@@secret:env:P@@"/>\n'
    assert unmark(text, "/etc/freeswitch/sip_profiles/external.xml", {"env:P": 'a&<"b">\n'}) == \
        '<param name="password" value="a&amp;&lt;&#34;b&#34;&gt;"/>\n'


def test_markers_elsewhere_get_the_value_as_it_is():
    assert unmark("pass=@@secret:env:P@@\n", "/etc/x.conf", {"env:P": "a&b"}) == "pass=a&b\n"


def test_a_file_with_secrets_matches_its_render_around_the_markers():
    rendered = 'user="u"\npass="@@secret:env:P@@"\n'
    assert matches_around_markers(rendered, 'user="u"\npass="anything"\n')
    assert not matches_around_markers(rendered, 'user="x"\npass="anything"\n')
    assert not matches_around_markers(rendered, 'user="u"\npass="two\nlines"\n')
