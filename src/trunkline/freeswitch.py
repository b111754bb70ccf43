"""Where trunkline's own FreeSWITCH is, and how to start one on a media node's rendered files.

Debian 12 has no FreeSWITCH package: `make freeswitch` (scripts/freeswitch/install.sh) installs
FreeSWITCH 1.10.12 under PREFIX as a relocatable tree started through bin/freeswitch-reloc.
The lab, the tests and benchmarks find it here; None means it is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from trunkline.render import RenderedFile

PREFIX = Path(os.environ.get("FREESWITCH_PREFIX", "/opt/trunkline/freeswitch"))
CONF = "/etc/freeswitch/"
EVENT_SOCKET_CONF = "/etc/freeswitch/autoload_configs/event_socket.conf.xml"
FS_CLI_CONF = "/root/.fs_cli_conf"  # fs_cli reads ~/.fs_cli_conf (or /etc/fs_cli.conf) and nothing else
INSTALL_HINT = "make freeswitch (scripts/freeswitch/install.sh; FREESWITCH_TARBALL or FREESWITCH_SRC name a local source)"


def _executable(path: Path) -> Path | None:
    return path if path.is_file() and os.access(path, os.X_OK) else None


def launcher() -> Path | None:
    """bin/freeswitch-reloc of the installed tree: it sets the library path and -base/-mod itself."""
    return _executable(PREFIX / "bin" / "freeswitch-reloc")


def fs_cli() -> Path | None:
    return _executable(PREFIX / "bin" / "fs_cli")


def write_conf(files: list[RenderedFile], host: str, conf: Path, unmark=None) -> Path:
    """Lay out one host's rendered /etc/freeswitch files under conf, the folder given to -conf.

    `unmark(text, path)` replaces secret markers the way apply does (trunkline.deploys.unmark).
    """
    conf.mkdir(parents=True, exist_ok=True)
    for f in files:
        if f.host != host or not f.path.startswith(CONF):
            continue
        dest = conf / f.path.removeprefix(CONF)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = f.content.decode()
        dest.write_text(unmark(text, f.path) if unmark else text)
    return conf


def command(root: Path, launcher_path: Path | None = None) -> list[str]:
    """argv that runs FreeSWITCH in the foreground on root/conf, its state in root/{log,db,run,...}.

    -base root keeps everything FreeSWITCH creates (cert/, storage/, ...) out of PREFIX; the sounds
    (music on hold in sounds/music/8000, made by install.sh) are the installed tree's.
    """
    exe = launcher_path or launcher()
    if exe is None:
        raise FileNotFoundError(f"FreeSWITCH is not installed under {PREFIX}; install it with {INSTALL_HINT}")
    for d in ("log", "db", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    sounds = Path(exe).resolve().parents[1] / "sounds"
    return [str(exe), "-nonat", "-nc", "-nf", "-base", str(root), "-sounds", str(sounds), "-conf", str(root / "conf"),
            "-log", str(root / "log"), "-db", str(root / "db"), "-run", str(root / "run")]


def event_socket_ref(entries: list[dict]) -> str | None:
    """The secret reference of the event socket's password, from a host's manifest entries."""
    return next((e["secrets"][0] for e in entries if e["path"] == EVENT_SOCKET_CONF and e["secrets"]), None)


def fs_cli_conf(password: str) -> str:
    """root's fs_cli settings: without them fs_cli (and the reload handler) tries the default ClueCon.
    The roles write the same bytes (roles/freeswitch/tasks/main.yml)."""
    return f"[default]\nhost => 127.0.0.1\nport => 8021\npassword => {password}\n"
