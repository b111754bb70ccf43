"""Every example's IVR in the lab: a call walks carrier -> VIP -> Kamailio -> rtpengine -> FreeSWITCH
-> IVR (the carrier's FreeSWITCH sends the digits as RFC 2833 events) -> queue -> a lab agent.

Per example one lab (module-scoped, FreeSWITCH on every media node, always taken down), with the
lab's agents (targets/lab/agents.py: PER_POOL SIPp phones per seat pool, registered to every media
node and logged in). The caller is the first trunk's carrier, calling its first site's VIP. Every
queue's max_wait is lowered to MAX_WAIT_S and announce_every to ANNOUNCE_S (--set), so the no-agent
case takes seconds; nothing else of the blueprint changes.

  * each IVR option (sub-menus walked) puts the caller in its queue, seen on the media node that
    took the call (`callcenter_config queue list members`), and the agent the queue rings is one
    whose pool has the queue's skill (the agents' UAS logs the Request-URI of each INVITE);
  * a queue with no agent logged in plays its announcement to the waiting caller (the displace
    media bug on the caller's channel) and lets the caller go after max_wait.

Calls run one at a time: each test reads which agent was rung and which node queued the call.
Run under the lab lock (the project's rules).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from trunkline.center import load as load_center
from trunkline.targets import lab
from trunkline.targets.lab.agents import PER_POOL, invites, site_agents
from trunkline.targets.lab.caller import carrier_caller
from trunkline.targets.lab.media import fs_api, log_tail

from shared import EXAMPLES, fs_rows, needs_freeswitch, why_no_agent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")

MAX_WAIT_S = 15  # above the agents' wrap-up (10 s): a skilled agent is free again before a caller gives up
ANNOUNCE_S = 3
DTMF_AT_S = 3.0  # after answer: the menu's greeting (a 1 s tone in the lab) has played
# the queue rings an agent ~0.1 s after the caller joins. Before the lab rang one agent from every node
# while it came up (agents.ring_once), about 1 first call in 5 saw the node's INVITE to both agents fail
# at once (sofia's own 503, not yet understood) and mod_callcenter offer the call again after the
# agents' no-answer delay (10 s): held long enough to see that, should it still happen
HOLD_S = 16.0
POLL_S = 0.4


def ivr_paths(plan) -> list[tuple[str, str]]:
    """(digits, queue) for every queue option reachable from the entry menu; 'wwww' (2 s) between menus."""
    menus = {m["name"]: m for m in plan.ivr}
    entry = next((m for m in plan.ivr if m["entry"]), None)
    out: list[tuple[str, str]] = []

    def walk(menu, prefix, seen):
        for digit, option in sorted(menu["options"].items()):
            if option["queue"]:
                out.append((prefix + digit, option["queue"]))
            elif option["menu"] and option["menu"] not in seen:
                walk(menus[option["menu"]], prefix + digit + "wwww", seen | {option["menu"]})

    if entry:
        walk(entry, "", {entry["name"]})
    return out


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def center_lab(request):
    needs_freeswitch()
    plan = load_center(request.param).plan
    scaled, _ = lab.lab_overrides(plan)
    short = [f"spec.queues[{i}].{k}={v}" for i in range(len(plan.queues))
             for k, v in (("max_wait", f"{MAX_WAIT_S}s"), ("announce_every", f"{ANNOUNCE_S}s"))]
    center = load_center(request.param, scaled + short)
    t0 = time.monotonic()
    try:
        state = lab.up(center, scaled, media="freeswitch")
        print(f"{center.name}: lab up with agents in {time.monotonic() - t0:.0f} s")
        yield state, center.plan
    finally:
        lab.down(center.plan.center)


def _site(plan):
    return plan.site(plan.trunks[0].sites[0])  # where the first trunk's carrier calls


def _nodes(plan) -> list[str]:
    return [h.name for h in plan.hosts_of(_site(plan).name, "media")]


def _members(state, node: str, queue: str, domain: str) -> list[dict]:
    return fs_rows(state, node, f"callcenter_config queue list members {queue}@{domain}")


def _call_watching(state, plan, caller, digits: str, queue: str, hold_s: float, extra=None):
    """One call, polling the site's media nodes while it lasts: (result, {(node, member state, serving agent)},
    what `extra(node, member)` returned for each member seen)."""
    result, seen, notes = [], set(), []
    # a member left from an earlier call (Abandoned, kept for discard-abandoned-after) is not this call's
    earlier = {m["session_uuid"] for node in _nodes(plan) for m in _members(state, node, queue, plan.center)}
    call = threading.Thread(target=lambda: result.append(caller.call(dtmf=digits, dtmf_at_s=DTMF_AT_S, hold_s=hold_s)))
    call.start()
    deadline = time.monotonic() + hold_s + 60
    while call.is_alive() and time.monotonic() < deadline:
        for node in _nodes(plan):
            for m in _members(state, node, queue, plan.center):
                if m["session_uuid"] in earlier:
                    continue
                seen.add((node, m["state"], m["serving_agent"]))
                if extra:
                    notes.append(extra(node, m))
        time.sleep(POLL_S)
    call.join(5)
    assert result, f"{digits}: the call did not end within {hold_s + 60:.0f} s"
    return result[0], seen, notes


def test_each_ivr_option_reaches_its_queue_and_a_skilled_agent_answers(center_lab):
    state, plan = center_lab
    site = _site(plan)
    skills = {s.pool: set(s.skills) for s in plan.seats}
    paths = ivr_paths(plan)
    assert paths, "the example has no IVR option leading to a queue"
    proven = []
    with carrier_caller(state, plan) as caller:
        for digits, queue in paths:
            skill = next(q["skill"] for q in plan.queues if q["name"] == queue)
            before = len(invites(state, site.name))
            r, seen, _ = _call_watching(state, plan, caller, digits, queue, HOLD_S)
            rung = [agent for agent, _ in invites(state, site.name)[before:]]
            assert r.answered and r.dtmf_sent.replace("w", "") == digits.replace("w", ""), (digits, r)
            assert seen, f"{digits}: no member ever stood in queue {queue} on {_nodes(plan)}"
            served = {agent for _, st, agent in seen if agent}
            if not (rung and served):  # what the node knew, in full (an assertion's message is cut short)
                for n in sorted({node for node, *_ in seen}):
                    print(f"--- {n}: the last 80 lines of its FreeSWITCH log ---\n{log_tail(state, n, 80)}")
                    for cmd in ("callcenter_config agent list", f"callcenter_config tier list {queue}@{plan.center}",
                                "sofia status profile internal reg"):
                        print(f"--- {n}: {cmd} ---\n{fs_api(state, n, cmd)}")
            assert rung and served, (digits, queue, rung, seen, [why_no_agent(state, n, queue, plan.center)
                                                                for n in sorted({node for node, *_ in seen})])
            pools = {agent.rsplit("-", 1)[0] for agent in rung + sorted(served)}
            assert all(skill in skills[p] for p in pools), f"{digits} -> {queue} ({skill}) rang {rung}, served by {served}"
            proven.append(f"{digits.replace('wwww', ' ')} -> {queue}: {', '.join(sorted(served))}")
    print(f"{plan.center}: " + "; ".join(proven))


NO_AGENT: dict[str, object] = {}  # center -> the no-agent call's result, for the caller's side below


def test_a_queue_with_no_agent_logged_in_announces_and_lets_the_caller_go_after_max_wait(center_lab):
    """Read on the media node that queued the call: the caller waits with no agent serving, hears
    the queue's announcement (the displace media bug on its channel), is given up at max_wait
    (member Abandoned) and the node ends the caller's channel (the goodbye prompt, then hangup)."""
    state, plan = center_lab
    digits, queue = ivr_paths(plan)[0]
    skill = next(q["skill"] for q in plan.queues if q["name"] == queue)
    skilled = [a for pool, names in site_agents(plan, _site(plan).name, PER_POOL).items()
               if skill in next(s.skills for s in plan.seats if s.pool == pool) for a in names]

    def set_status(status: str) -> None:
        for node in _nodes(plan):
            for agent in skilled:
                assert "+OK" in fs_api(state, node, f"callcenter_config agent set status {agent} '{status}'")

    def watch(node, member):
        uuid = member["session_uuid"]
        return (time.monotonic(), member["state"], fs_api(state, node, f"uuid_exists {uuid}").strip() == "true",
                fs_api(state, node, f"uuid_buglist {uuid}"), int(member["joined_epoch"]), int(member["abandoned_epoch"]))

    set_status("Logged Out")
    try:
        with carrier_caller(state, plan) as caller:
            r, seen, polls = _call_watching(state, plan, caller, digits, queue, MAX_WAIT_S + 15, watch)
    finally:
        set_status("Available")
    NO_AGENT[plan.center] = r
    assert r.answered, r
    # waiting all along, no agent serving; "Abandoned" once max_wait passed (kept for discard-abandoned-after)
    states = {st for _, st, _ in seen}
    assert "Waiting" in states and states <= {"Waiting", "Abandoned"} and not {a for _, _, a in seen if a}, seen
    assert any("displace" in bugs and "ivr-one_moment_please.wav" in bugs for _, _, _, bugs, *_ in polls), polls[-1:]
    # mod_callcenter's own record of the wait (whole seconds; the member thread checks about once a second):
    # the polls see it up to a poll (0.4 s plus four fs_cli runs) late at either end, too coarse to bound it
    abandoned = [(t, a - j) for t, st, _, _, j, a in polls if st == "Abandoned"]
    assert abandoned, f"the member was never given up: {[p[1] for p in polls]}"
    given_up, waited = abandoned[0]
    ended = min(t for t, _, alive, *_ in polls if not alive)
    assert MAX_WAIT_S <= waited <= MAX_WAIT_S + 2, waited
    assert 0 <= ended - given_up <= 5, ended - given_up  # the goodbye prompt (a 1 s tone in the lab), then hangup
    print(f"{plan.center}: {queue} with no agent: given up {waited} s after joining (the queue's record), "
          f"channel ended {ended - given_up:.1f} s later (max_wait {MAX_WAIT_S} s)")


def test_the_caller_given_up_by_the_queue_hears_the_center_hang_up(center_lab):
    state, plan = center_lab
    r = NO_AGENT.get(plan.center)
    if r is None:
        pytest.skip("the no-agent call did not run")
    assert r.disposition == "recv_bye", (r.disposition, r.ended_at - r.answered_at)
