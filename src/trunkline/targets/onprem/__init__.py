"""On-prem target: apply a center to its own Linux servers with pyinfra or Ansible, and find drift.

An apply, in order; no host is touched before step 4:
  1. render the center into build/<center> (the real programs check it, as `trunkline render` does);
  2. read inventories/<center>/ (written by `trunkline inventory` when missing) and refuse it
     when it no longer matches the plan;
  3. resolve the secret references the chosen hosts need: env:NAME, file:PATH. vault: is not
     supported by this version (there is no Vault client in it) and is refused with the fix.
     Values stay in memory: pyinfra gets them as Python objects, ansible-playbook in its
     environment (TRUNKLINE_SECRETS); every task that uses one has no_log, no value is logged;
  4. run the engine: pyinfra in this process (trunkline.deploys, one deploy per role) or
     ansible-playbook site.yml (roles/); both place the same bytes and report what changed.

`--chroot DIR` makes every host the Debian root DIR/<host> on this machine instead of an SSH
server (pyinfra's @chroot connector; Ansible's community.general.chroot connection). A chroot
has no init system and shares this machine's kernel, so nothing is started or loaded there:
/usr/sbin/policy-rc.d (exit 101) keeps package scripts from starting daemons, and the roles'
*_manage_service switches are off (no systemctl, no `nft -f`, no `sysctl --system`). Packages
are installed, files placed with their owners and modes, and configurations checked
(kamailio -c, keepalived -t, nft -c) inside the root.

Drift: each host's rendered files against what the plan gives now: missing,
content, mode, owner, group. Files with secrets are compared around the markers, so drift needs
no secret values.

The package, by concern:
  common          the engines, the errors, which hosts a --limit picks, their files, the inventory check
  secret_values   references -> values (env:, file:), in memory only
  roots           Debian roots for --chroot: checked, made by debootstrap, cached
  deploy          apply() (the steps above)
  engine_pyinfra  pyinfra in this process;  engine_ansible  ansible-playbook site.yml
  results         what an apply reports;     compare         drift()
"""

from trunkline.targets.onprem.common import (ENGINES, OnpremError, Progress, check_inventory, expected_files,
                                             host_entries, select_hosts)
from trunkline.targets.onprem.compare import Drift, drift, matches_around_markers
from trunkline.targets.onprem.deploy import apply
from trunkline.targets.onprem.engine_ansible import ansible_env, ansible_playbook, run_ansible
from trunkline.targets.onprem.engine_pyinfra import run_pyinfra
from trunkline.targets.onprem.results import ApplyReport, HostResult
from trunkline.targets.onprem.roots import (BASE_PACKAGES, POLICY_RC_D, apt_mirror, cached_root, chroot_overrides,
                                            debootstrap_root, prepare_chroot, role_packages)
from trunkline.targets.onprem.secret_values import SecretError, needed_secrets, resolve_secret, resolve_secrets

__all__ = ["ENGINES", "OnpremError", "Progress", "check_inventory", "expected_files", "host_entries", "select_hosts",
           "Drift", "drift", "matches_around_markers", "apply", "ansible_env", "ansible_playbook", "run_ansible",
           "run_pyinfra", "ApplyReport", "HostResult", "BASE_PACKAGES", "POLICY_RC_D", "apt_mirror", "cached_root",
           "chroot_overrides", "debootstrap_root", "prepare_chroot", "role_packages", "SecretError", "needed_secrets",
           "resolve_secret", "resolve_secrets"]
