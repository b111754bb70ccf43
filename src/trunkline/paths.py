"""Where trunkline's own run-time files are: inside the package, so an installed wheel carries them.

    templates/          Jinja2 templates, one folder per program (render/)
    ansible/site.yml    the site playbook; ansible/roles/ its roles; ansible/collections/ their plugins

In a checkout these are links to the top-level templates/, site.yml, roles/ and collections/
(where integrators look for them and run ansible-playbook and ansible-lint by hand); a wheel
carries the files themselves.

Each can be pointed elsewhere through the environment (a test's or an integrator's own copy).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = Path(os.environ.get("TRUNKLINE_TEMPLATES", PACKAGE / "templates"))
ANSIBLE = PACKAGE / "ansible"
SITE_PLAYBOOK = Path(os.environ.get("TRUNKLINE_SITE_PLAYBOOK", ANSIBLE / "site.yml"))
ROLES = Path(os.environ.get("TRUNKLINE_ROLES", ANSIBLE / "roles"))
COLLECTIONS = ANSIBLE / "collections"
