"""The lab's agents: real SIP phones for the seat pools, registered to the media nodes and logged in.

Per site with media nodes, a namespace tl-<center>-agents-<site> on the site's bridge, at an
address of the site's network that no host, VIP or gateway uses. In it:

  * one SIPp UAS (targets/sipp/agent-uas.xml) answers every INVITE for all of the site's lab
    agents: each agent registered a Contact naming it, so the Request-URI tells which agent was
    rung; it logs "invite <agent> <Call-ID>" to logs/agents-<site>.invites.log (`invites`);
  * for every media node of the site, SIPp (agent-register.xml) registers `per_pool` agents of
    each seat pool to the node's internal profile (the node challenges; digest with the lab's
    value of security.agent_sip_password), and mod_callcenter is told they are Available and
    Waiting. Each media node has its own mod_callcenter in the lab (no shared database), so
    every node gets every agent.

The pools are those of callcenter.conf.xml: the site's own, or those of the primaries a
standby site covers. The other agents of the rendered configuration stay Logged Out.
Limit: one password for all agents (the rendered directory's; see directory/trunkline.xml).

Prompts: the sounds the node's files name (the center's greetings, FreeSWITCH's stock prompts)
are in neither the lab nor trunkline's FreeSWITCH build; place_prompts puts a short tone at each
of those paths, in an overlay inside the node only (see its docstring).
"""

from __future__ import annotations

import ipaddress
import math
import re
import subprocess
import time
import wave
from pathlib import Path
from typing import Callable

from trunkline.plan.topology import Plan
from trunkline.targets.lab.network import _add_ns
from trunkline.targets.lab.processes import SIPP_DIR, spawn
from trunkline.targets.lab.shell import in_host, in_ns, ip, run
from trunkline.targets.lab.state import LAB_SRC, LabError, LabState, core_ns

PER_POOL = 2  # agents registered per seat pool and media node: enough to see who takes a call
AGENT_PORT = 5070  # the agents' UAS; their phones register from a free port
ECHO_PORT = 6000  # where the agents' UAS takes media and sends every packet back (SIPp -rtp_echo)
INTERNAL_PORT = 5060  # the internal profile of sip_profiles/internal.xml (UDP)
VARS = "/etc/freeswitch/vars.xml"


def agents_ns(center: str, site: str) -> str:
    return f"tl-{center}-agents-{site}"


def site_agents(plan: Plan, site: str, per_pool: int = PER_POOL) -> dict[str, list[str]]:
    """Pool -> the first `per_pool` agent names of the pools the site's media nodes serve
    (named as callcenter.conf.xml names them)."""
    serving = plan.site(site).covers or [site]
    return {s.pool: [f"{s.pool}-{i:04d}" for i in range(1, min(per_pool, s.agents) + 1)]
            for s in plan.seats if s.site in serving}


def free_address(plan: Plan, site: str) -> str:
    """The highest address of the site's network that no host, VIP or gateway of the plan uses."""
    s = plan.site(site)
    used = {h.address for h in plan.hosts} | {s.vip, s.gateway}
    for addr in reversed(list(ipaddress.ip_network(s.cidr).hosts())[-64:]):
        if str(addr) not in used:
            return str(addr)
    raise LabError(f"site {site}: no free address in {s.cidr} for the lab's agents")


def uas_scenario(plan: Plan) -> str:
    """agent-uas.xml for the blueprint: RTP/SAVP with an SDES key under the offer's tag when SRTP is required."""
    text = (SIPP_DIR / "agent-uas.xml").read_text()
    srtp = plan.security["srtp"] == "required"
    ereg = ('    <action><ereg regexp="a=crypto:[0-9]+ AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/=]+" search_in="body" '
            'check_it="true" assign_to="crypto"/></action>\n')
    text = text.replace("@EREG@", ereg if srtp else "")
    text = text.replace("@CRYPTO@", "      [$crypto]\n" if srtp else "")
    return text.replace("@PROFILE@", "RTP/SAVP" if srtp else "RTP/AVP")


def register_scenario(address: str, password: str) -> str:
    """agent-register.xml with the agents' contact (the UAS at address:AGENT_PORT) and their password."""
    if any(c.isspace() or c in "]" for c in password):
        raise LabError("the lab's agent password holds white space or ']', which SIPp's authentication keyword cannot carry")
    text = (SIPP_DIR / "agent-register.xml").read_text()
    return text.replace("@CONTACT@", f"{address}:{AGENT_PORT}").replace("@PASSWORD@", password)


def register(ns: str, address: str, node: str, agents: list[str], scenario: Path, workdir: Path) -> None:
    """Register `agents` from namespace `ns` to a node's internal profile, all at once (one SIPp each:
    the agent is SIPp's service, the digest username)."""
    runs = {}
    for agent in agents:
        errors = workdir / f"register-{agent}-{node}.errors.log"
        argv = ["sipp", f"{node}:{INTERNAL_PORT}", "-sf", str(scenario), "-s", agent, "-i", address, "-p", "0",
                "-t", "u1", "-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin", "-nd",
                "-trace_err", "-error_file", str(errors)]
        runs[agent] = (subprocess.Popen(in_ns(ns, argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL), errors)
    failed = []
    for agent, (proc, errors) in runs.items():
        try:
            rc = proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(5)
        if rc != 0:
            failed.append(f"{agent} (SIPp exit {rc}): " + (errors.read_text(errors="replace")[-600:] if errors.exists() else ""))
    if failed:
        raise LabError(f"agents of {ns} could not register to {node}:{INTERNAL_PORT}:\n" + "\n".join(failed))


def log_in(api: Callable[[str], str], agents: list[str], tries: int = 3) -> None:
    """Tell a node's mod_callcenter the agents are Available and Waiting for calls, and read it back:
    mod_callcenter answers +OK even when its database write failed (cc_execute_sql ignores errors)."""
    for agent in agents:
        for key, value in (("status", "Available"), ("state", "Waiting")):
            for _ in range(tries):
                answer = api(f"callcenter_config agent set {key} {agent} {value}")
                if "+OK" not in answer:
                    raise LabError(f"callcenter_config agent set {key} {agent} {value}: {answer.strip()}")
                now = api(f"callcenter_config agent get {key} {agent}").strip()
                if now == value:
                    break
                time.sleep(0.2)
            else:
                raise LabError(f"agent {agent}: {key} is {now!r} after {tries} times setting {value}")


def ring_once(api: Callable[[str], str], agent: str, domain: str, tries: int = 3) -> int:
    """Ring one agent from a node, as the queue would (user/<agent>@domain: its registration), and hang
    up once it answers: the path the queue's calls take is proven before the lab says it is up. Returns
    how many tries it took; the failures are FreeSWITCH's answers (e.g. -ERR NORMAL_TEMPORARY_FAILURE)."""
    failures = []
    for attempt in range(1, tries + 1):
        answer = api(f"originate {{originate_timeout=5,ignore_early_media=true}}user/{agent}@{domain} &park").strip()
        if answer.startswith("+OK"):
            api(f"uuid_kill {answer.split()[-1]}")
            return attempt
        failures.append(answer)
        time.sleep(0.5)
    raise LabError(f"ringing agent {agent}@{domain} failed {tries} times: {failures}")


def start_agents(state: LabState, plan: Plan, per_pool: int = PER_POOL,
                 progress: Callable[[str], None] = lambda s: None) -> dict[str, list[str]]:
    """Prompts on every media node, then every site's agents namespace, its UAS, and its agents
    registered and logged in on every media node of the site. Returns site -> the agents logged in."""
    from trunkline.targets.lab.media import fs_api  # the lab's FreeSWITCH (media.py imports the processes)

    for node in plan.hosts:
        if node.role == "media":
            placed = place_prompts(state, node.name, lambda cmd, host=node.name: fs_api(state, host, cmd))
            progress(f"prompts on {node.name}: a 1 s tone at each of {len(placed)} sound paths its files name "
                     "(the center's recordings and FreeSWITCH's sound packages are not in the lab)")
    workdir = state.dir / "agents"
    workdir.mkdir(mode=0o700, exist_ok=True)
    (workdir / "agent-uas.xml").write_text(uas_scenario(plan))
    core = core_ns(plan.center)
    logged: dict[str, list[str]] = {}
    for i, site in enumerate(plan.sites):
        nodes = plan.hosts_of(site.name, "media")
        agents = [a for names in site_agents(plan, site.name, per_pool).values() for a in names]
        if not nodes or not agents:
            continue
        ns, address = agents_ns(plan.center, site.name), free_address(plan, site.name)
        progress(f"agents of {site.name}: {len(agents)} phones at {address} ({per_pool} per seat pool), "
                 f"registered and logged in on {', '.join(n.name for n in nodes)}")
        _add_ns(state, ns)
        ip("-n", core, "link", "add", f"a{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", core, "link", "set", f"a{i}", "master", f"br{i}", "up")
        ip("-n", ns, "addr", "add", f"{address}/{site.cidr.split('/')[1]}", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "route", "add", "default", "via", site.gateway)
        spawn(state, f"agents-{site.name}", "sipp-agents", [
            "sipp", "-sf", str(workdir / "agent-uas.xml"), "-i", address, "-p", str(AGENT_PORT), "-t", "u1",
            "-mp", str(ECHO_PORT), "-rtp_echo",
            "-nostdin", "-nd", "-trace_logs", "-log_file", str(invites_log(state, site.name)),
            "-trace_err", "-error_file", str(workdir / f"uas-{site.name}.errors.log"),
            "-trace_msg", "-message_file", str(workdir / f"uas-{site.name}.messages.log")], ns=ns)
        scenario = workdir / f"agent-register-{site.name}.xml"  # holds the password: root only, like secrets.json
        scenario.touch(mode=0o600)
        scenario.write_text(register_scenario(address, state.secrets()[plan.security["agent_sip_password"]]))
        for node in nodes:
            join(state, plan, node.name, agents, progress)
        logged[site.name] = agents
    return logged


def join(state: LabState, plan: Plan, node: str, agents: list[str], progress: Callable[[str], None] = lambda s: None) -> None:
    """The site's agents on one media node: registered, logged in (read back) and one of them rung."""
    from trunkline.targets.lab.media import fs_api

    host = next(h for h in plan.hosts if h.name == node)
    api = lambda cmd: fs_api(state, node, cmd)  # noqa: E731
    # sofia's transport errors (an ICMP error, a failed send: the 503 it then gives a call) are silent at
    # FreeSWITCH's default log level; the lab logs them, to tell why an agent was not rung
    for component in ("nta", "tport"):
        api(f"sofia loglevel {component} 3")
    register(agents_ns(plan.center, host.site), free_address(plan, host.site), host.address, agents,
             state.dir / "agents" / f"agent-register-{host.site}.xml", state.dir / "agents")
    log_in(api, agents)
    tries = ring_once(api, agents[0], plan.center)
    if tries > 1:  # not hidden: the lab's output says so (see tests/lab/test_ivr_paths.py)
        progress(f"{node}: ringing agent {agents[0]} failed {tries - 1} time(s) before it answered")


def rejoin(state: LabState, plan: Plan, node: str, per_pool: int = PER_POOL) -> list[str]:
    """After a media node restarted: its site's agents register to it and log in again, as their
    phones (at their next registration) and desktops would. Returns the agents."""
    host = next(h for h in plan.hosts if h.name == node)
    agents = [a for names in site_agents(plan, host.site, per_pool).values() for a in names]
    if not agents or not (state.dir / "agents" / f"agent-register-{host.site}.xml").exists():
        return []
    join(state, plan, node, agents)
    return agents


def prompts(files: dict[str, str]) -> tuple[list[str], list[str]]:
    """(voice folders, relative .wav sounds) a media node's FreeSWITCH files name: the sound_prefix
    folders of vars.xml, and the prompts of the menus, queues and dialplan."""
    voices = sorted(set(re.findall(r"sound_prefix[\w-]*=\$\$\{sounds_dir\}/([\w/.-]+)", files.get(VARS, ""))))
    sounds = sorted({m for text in files.values() for m in re.findall(r"(?<![\w/.$:-])([A-Za-z0-9_][\w/.-]*\.wav)\b", text)})
    return voices, sounds


def tone_wav(path: Path, seconds: float = 1.0, hz: int = 440) -> None:
    """A short 8 kHz mono tone: what the lab plays in place of a prompt it does not have."""
    n = int(8000 * seconds)
    frames = b"".join(int(8000 * math.sin(2 * math.pi * hz * i / 8000)).to_bytes(2, "little", signed=True) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)


def place_prompts(state: LabState, host: str, api: Callable[[str], str]) -> list[str]:
    """Short generated tones at the sound paths the node's files name where no sound is installed.

    The greetings (ivr/acme-welcome.wav ...) are the center's own recordings and the stock prompts
    (ivr/ivr-one_moment_please.wav ...) come with FreeSWITCH's sound packages; the lab has neither.
    Missing, FreeSWITCH logs a warning at each playback (mod_sndfile "Error Opening File") and the
    menu still collects digits. The tones go into an overlay on FreeSWITCH's sounds folder inside
    the node's mount namespace only (the installed tree is left as it is); returns the paths placed."""
    sounds_dir = api("global_getvar sounds_dir").strip()
    if not sounds_dir.startswith("/"):
        raise LabError(f"{host}: FreeSWITCH gave no sounds folder ({sounds_dir!r})")
    root = state.render_dir() / host
    files = {f"/{p.relative_to(root)}": p.read_text(errors="replace") for p in (root / "etc" / "freeswitch").rglob("*.xml")}
    voices, sounds = prompts(files)
    tone = state.dir / "prompts" / "tone.wav"
    if not tone.exists():
        tone.parent.mkdir(exist_ok=True)
        tone_wav(tone)
    base = "/run/trunkline-prompts"  # the node's own /run (a tmpfs): gone with the node
    script = [f"mkdir -p {base}/upper {base}/work",
              f"mount -t overlay overlay -o lowerdir={sounds_dir},upperdir={base}/upper,workdir={base}/work {sounds_dir}"]
    placed = []
    for voice in voices:
        for sound in sounds:
            path = f"{sounds_dir}/{voice}/{sound}"
            script.append(f"[ -e '{path}' ] || install -D -m 0644 {LAB_SRC}/prompts/tone.wav '{path}'")
            placed.append(path)
    run(in_host(state.center, host, ["sh", "-c", " && ".join(script)]))
    return placed


def invites_log(state: LabState, site: str) -> Path:
    return state.dir / "logs" / f"agents-{site}.invites.log"


def invites(state: LabState, site: str) -> list[tuple[str, str]]:
    """(agent, Call-ID) of every INVITE the site's agents were sent, in order."""
    path = invites_log(state, site)
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return [(w[1].removeprefix("sip:").split("@")[0], w[2]) for w in (line.split() for line in lines)
            if len(w) == 3 and w[0] == "invite"]
