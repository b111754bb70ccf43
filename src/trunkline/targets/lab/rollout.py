"""A rollout in the lab: change a running center host by host, in the order of targets/rollout.py,
without taking a call from a host that carries it.

The blueprint is rendered now into .trunkline/lab/<center>/rollouts/<time>/ and filled with the lab's
secret values; what differs from the deployed tree (placed/, what `up` and every rollout recorded)
is changed, host by host:

  media node  Kamailio's dispatcher stops giving it new calls (dispatcher.set_state d on every proxy
              whose sets hold it, over kamcmd) and FreeSWITCH refuses new ones (fsctl pause inbound);
              its calls end by themselves (bounded by upgrades.drain_timeout; calls still up then are
              reported and end with the restart); the new files are placed, FreeSWITCH restarts, the
              lab's agents register and log in again, the node is probed (OPTIONS from each proxy,
              every SIP profile RUNNING, a test call from a proxy pinned to it: SIPp straight to the
              node, answered and hung up), put back (set_state a) and, when it is a canary, put back
              at the canary weight instead (its share of the set's calls, dispatcher.remove/add in
              memory) and soaked: its own failed share of the calls it took in the soak
              (FreeSWITCH's CALLS-IN and FAILED-CALLS-IN) against --max-failed; then
              dispatcher.reload gives every node its rendered weight again;
  relay       rtpengine: each proxy's rtpengine module stops using it (rtpengine.enable URL 0), its
              sessions end (its CLI's session count), placed, restarted, probed, enabled again;
  proxy       the BACKUP (not holding the VIP): placed, Kamailio restarted, probed (OPTIONS); the
              master: keepalived stopped, so the VIP moves to the changed peer, placed, Kamailio
              restarted, probed, keepalived started (it takes the VIP back: preemption).

After each host its files become the deployed ones (placed/ and its manifest), the previous kept in
the rollout's folder. A failed probe, a canary over --max-failed or a failed `verify` at the end
rolls every changed host back to its previous files, in reverse order, the same way.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from trunkline.center import Center
from trunkline.plan.topology import MEDIA_SIP_PORT, Host, Plan
from trunkline.targets.lab.agents import rejoin
from trunkline.targets.lab.filesystems import fill_tree, lab_secret_values, place_files
from trunkline.targets.lab.media import fs_api
from trunkline.targets.lab.faults import dispatcher_list, external_counts, media_channels, relay_sessions, restart_service
from trunkline.targets.lab.processes import alive, stop_proc
from trunkline.targets.lab.readiness import sip_options, vip_holders, wait_proxy, wait_until
from trunkline.targets.lab.shell import in_host, run
from trunkline.targets.lab.state import LabError, LabState, ns_name
from trunkline.targets.calls import place_calls
from trunkline.targets.rollout import Event, HostChange, RolloutRun, canary_weights, file_changes, order

KAMCMD = ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl"]
PROBE_TIMEOUT_S = 60
PIN_CALL_TIMEOUT_S = 15
RELOAD_GAP_S = 1.1  # Kamailio's dispatcher rebuilds its list at most once a second (reload_delta 1)


class RolledBack(LabError):
    """A rollout that went back to the previous files."""


def prepare(state: LabState, center: Center, canary_percent: int, soak_s: float = 60, max_failed: float = 0.001,
            drain_timeout_s: float = 900) -> RolloutRun:
    """Render the blueprint now, fill it with the lab's secret values, and order the hosts whose files
    differ from the deployed tree. Touches no host."""
    if center.plan.center != state.center:
        raise LabError(f"the blueprint is center {center.plan.center}, the lab is {state.center}")
    folder = state.dir / "rollouts" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True)
    center.render(folder / "render")
    new = fill_tree(folder / "render", folder / "placed", lab_secret_values(state, folder / "render"))
    old = json.loads((state.placed_dir() / "manifest.json").read_text())
    added = sorted({e["host"] for e in new["files"]} - {e["host"] for e in old["files"]})
    if added:
        raise LabError(f"the blueprint now has hosts the lab does not run ({', '.join(added)}): adding hosts is a new "
                       f"`trunkline up`, not a rollout")
    changed = file_changes(old, new)
    plan = center.plan
    holders = {s.name: vip_holders(state.center, plan, s.name) for s in plan.sites}
    return RolloutRun(center=state.center, folder=str(folder), canary_percent=canary_percent, soak_s=soak_s,
                      max_failed=max_failed, drain_timeout_s=drain_timeout_s,
                      hosts=order(plan, changed, canary_percent, holders))


class LabRollout:
    """Carries out a prepared rollout on the lab (run()); `say` gets each event as it happens."""

    def __init__(self, state: LabState, plan: Plan, run_: RolloutRun, say: Callable[[Event], None] = lambda e: None,
                 verify: Callable[[list[str]], tuple[bool, str]] | None = None):
        self.state, self.plan, self.r, self.say, self.verify = state, plan, run_, say, verify
        self.folder = Path(run_.folder)
        self.rel = str(self.folder.relative_to(state.dir))
        self.new = json.loads((self.folder / "placed" / "manifest.json").read_text())
        self.done: list[HostChange] = []

    # --- the timeline ---
    def event(self, host: str, what: str, detail: str = "") -> None:
        e = Event(round(time.time(), 3), host, what, detail)
        self.r.events.append(e)
        self.say(e)

    # --- the run ---
    def run(self) -> RolloutRun:
        self.r.started_at = time.time()
        try:
            for change in self.r.hosts:
                self.change(change, "placed", self.rel + "/placed")
                self.done.append(change)
            if self.verify and self.done:
                self._verify()
            self.r.outcome = "completed"
        except RolledBack as exc:
            self.r.outcome, self.r.reason = "rolled back", str(exc)
        finally:
            self.r.took_s = round(time.time() - self.r.started_at, 1)
        return self.r

    def fail(self, change: HostChange | None, why: str) -> None:
        """Roll every host changed so far (`change` too) back to its previous files, newest first."""
        self.event(change.host if change else self.r.center, "rollback", why)
        for c in ([change] if change else []) + list(reversed(self.done)):
            self.change(c, "restored", self.rel + "/previous", rolling_back=True)
        raise RolledBack(why)

    def _verify(self) -> None:
        """`verify(hosts)` (the verify suite, given by the caller: it is a layer above the targets) on the
        changed hosts: their processes, ports and files as deployed now."""
        hosts = [c.host for c in self.done]
        ok, summary = self.verify(hosts)
        self.event(self.r.center, "verified" if ok else "verify failed", f"{len(hosts)} changed hosts: {summary}")
        if not ok:
            self.fail(None, f"verify failed on the changed hosts: {summary}")

    def change(self, change: HostChange, placed_word: str, tree: str, rolling_back: bool = False) -> None:
        host = next(h for h in self.plan.hosts if h.name == change.host)
        getattr(self, f"_{change.role.replace('-', '_')}")(host, change, tree, placed_word, rolling_back)

    # --- placing files and recording them as deployed ---
    def place(self, host: Host, tree: str, word: str) -> None:
        entries_new = [e for e in self.new["files"] if e["host"] == host.name]
        deployed = json.loads((self.state.placed_dir() / "manifest.json").read_text())
        entries_old = [e for e in deployed["files"] if e["host"] == host.name]
        if tree.endswith("/placed"):
            self._keep_previous(host, entries_old)
            entries, source = entries_new, self.folder / "placed" / host.name
        else:
            entries = json.loads((self.folder / "previous" / f"{host.name}.json").read_text())
            source = self.folder / "previous" / host.name
        removed = sorted({e["path"] for e in deployed["files"] if e["host"] == host.name} - {e["path"] for e in entries})
        place_files(self.state.center, host, entries, tree=tree, removed=removed, pki=False)
        # what the host holds now becomes the deployed record (verify compares the hosts with it)
        target = self.state.placed_dir() / host.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        deployed["files"] = [e for e in deployed["files"] if e["host"] != host.name] + entries
        tmp = self.state.placed_dir() / "manifest.json.tmp"
        tmp.write_text(json.dumps(deployed, indent=2))
        tmp.replace(self.state.placed_dir() / "manifest.json")
        self.event(host.name, word, f"{len(entries)} files" + (f", {len(removed)} removed" if removed else ""))

    def _keep_previous(self, host: Host, entries: list[dict]) -> None:
        prev = self.folder / "previous"
        prev.mkdir(exist_ok=True)
        if not (prev / host.name).exists():
            shutil.copytree(self.state.placed_dir() / host.name, prev / host.name)
            (prev / f"{host.name}.json").write_text(json.dumps(entries, indent=2))

    def restart(self, host: Host, program: str) -> None:
        restart_service(self.state, self.plan, host, program, wait=20)  # FreeSWITCH takes seconds to stop
        self.event(host.name, "restarted", program)

    # --- media nodes ---
    def _dispatcher(self, node: Host) -> list[tuple[Host, int, str]]:
        """(proxy, set, uri) of every dispatcher set that holds the node, on every proxy that has the set."""
        out = []
        for ds in self.plan.dispatcher_sets:
            for d in ds.destinations:
                if d.host == node.name:
                    out += [(p, ds.id, d.uri) for p in self.plan.hosts_of(ds.site, "sip-proxy")]
        return out

    def _kamcmd(self, proxy: Host, *args: str) -> str:
        return run(in_host(self.state.center, proxy.name, [*KAMCMD, *args]), check=False).stdout

    def _media(self, node: Host, change: HostChange, tree: str, word: str, rolling_back: bool) -> None:
        routes = self._dispatcher(node)
        for proxy, set_id, uri in routes:
            self._kamcmd(proxy, "dispatcher.set_state", "d", str(set_id), uri)
        try:
            fs_api(self.state, node.name, "fsctl pause inbound")
        except LabError:
            pass  # a node that does not answer takes no calls either
        self.event(node.name, "drained", f"out of {len({(p.name, s) for p, s, _ in routes})} dispatcher sets; "
                   "FreeSWITCH paused for new calls")
        self._wait_calls(node.name, lambda: media_channels(self.state, node.name), "channels")
        self.place(node, tree, word)
        self.restart(node, "freeswitch")
        ok, why = self._probe_media(node)
        if ok:
            agents = rejoin(self.state, self.plan, node.name)
            self.event(node.name, "probed", why + (f"; {len(agents)} lab agents registered and logged in again" if agents else ""))
        if not ok and not rolling_back:  # not back in rotation: the rollback puts it back on its previous files
            self.event(node.name, "probe failed", why)
            self.fail(change, f"{node.name}: {why}")
        soak = change.canary and not rolling_back and self.r.soak_s > 0
        weighed = self._weigh(node, routes) if soak else ""
        if not weighed:  # back in rotation (after a rollback's probe too: the dispatcher's own probes decide then)
            for proxy, set_id, uri in routes:
                self._kamcmd(proxy, "dispatcher.set_state", "a", str(set_id), uri)
        self.event(node.name, "back", f"active in its dispatcher sets again{weighed}")
        if soak:
            try:
                self._soak(node, change)
            finally:
                if weighed:
                    self._unweigh(node, routes)

    def _canary_share(self, node: Host) -> float:
        """Each canary of a site, soaked one at a time, takes its part of the canary percent."""
        canaries = [h for h in self.r.hosts if h.canary and h.site == node.site] or [node]
        return self.r.canary_percent / len(canaries)

    def _weigh(self, node: Host, routes: list[tuple[Host, int, str]]) -> str:
        """Put the canary back at its canary weight in every set that holds it (Kamailio's
        dispatcher.remove and dispatcher.add, in memory: the list file stays as deployed): the canary
        first, it takes no call while drained, then each other node. What was set, for the event;
        "" when a proxy refused (the caller puts the node back as rendered then)."""
        sets = {s.id: s for s in self.plan.dispatcher_sets}
        done = []
        for proxy, set_id in sorted({(p.name, s): (p, s) for p, s, _ in routes}.values(), key=lambda x: (x[0].name, x[1])):
            weights = canary_weights(sets[set_id], node.name, self._canary_share(node))
            for d in sorted(sets[set_id].destinations, key=lambda d: d.host != node.name):
                # each call rebuilds the proxy's list, at most one a second (reload_delta in kamailio.cfg):
                # while a node is between its remove and its add, the set's other nodes take its calls
                for args in (("dispatcher.remove", str(set_id), d.uri),
                             ("dispatcher.add", str(set_id), d.uri, "0", str(d.priority), f"weight={weights[d.host]};duid={d.host}")):
                    time.sleep(RELOAD_GAP_S)
                    self._kamcmd(proxy, *args)
            held = self._weights(proxy, set_id)
            if held != weights:
                self._unweigh(node, routes)
                self.event(node.name, "canary weight refused", f"{proxy.name} set {set_id} holds {held}, not {weights}")
                return ""
            done.append(f"{weights[node.name]} of 100 in set {set_id} on {proxy.name}")
        return f" at the canary weight: {', '.join(done)}" if done else ""

    def _unweigh(self, node: Host, routes: list[tuple[Host, int, str]]) -> None:
        """The list file's weights again: dispatcher.reload on each proxy the canary weight touched."""
        time.sleep(RELOAD_GAP_S)
        for proxy in {p.name: p for p, _, _ in routes}.values():
            self._kamcmd(proxy, "dispatcher.reload")
        self.event(node.name, "weights as rendered", "dispatcher.reload on " + ", ".join(sorted({p.name for p, _, _ in routes})))

    def _weights(self, proxy: Host, set_id: int) -> dict[str, int]:
        """duid -> weight of a set as the proxy holds it now."""
        return {d["attrs"]["duid"]: int(d["attrs"].get("weight", 0)) for d in dispatcher_list(self.state.center, proxy.name)
                if d["set"] == set_id and "duid" in d["attrs"]}

    def _probe_media(self, node: Host) -> tuple[bool, str]:
        proxies = {p.name: p for p, _, _ in self._dispatcher(node)}.values() or self.plan.hosts_of(node.site, "sip-proxy")
        try:
            for p in proxies:
                wait_until(f"{node.name} answering OPTIONS from {p.name}",
                           lambda p=p: (sip_options(self.state.center, ns_name(self.state.center, p.name), p.address,
                                                    node.address, MEDIA_SIP_PORT) or "").startswith("SIP/2.0 200"),
                           PROBE_TIMEOUT_S, 0.5)
            status = fs_api(self.state, node.name, "sofia status")
        except LabError as exc:
            return False, str(exc)
        profiles = [r for r in (line.split() for line in status.splitlines()) if len(r) >= 4 and r[1] == "profile"]
        down = [r[0] for r in profiles if r[3] != "RUNNING"]
        if not profiles or down:
            return False, f"SIP profiles not running: {', '.join(down) or 'none listed'}"
        # a test call pinned to the node, from its first proxy, as a carrier's call arrives there (the
        # offer the proxy sends: SRTP where the blueprint requires it): answered, held 1 s, hung up
        proxy = next(iter(proxies))
        call = place_calls(self.state, self.plan, 1, 1, hold_ms=1000, audio=False, timeout_s=PIN_CALL_TIMEOUT_S,
                           target=f"{node.address}:{MEDIA_SIP_PORT}", source=proxy.name)
        if not call.ok:
            why = ", ".join(f"{k} x{v}" for k, v in call.failures.items()) or "no answer"
            return False, f"the test call pinned to it from {proxy.name} failed ({why}; SIPp's log in {call.log_dir})"
        return True, (f"OPTIONS answered from {', '.join(p.name for p in proxies)}; {len(profiles)} SIP profiles RUNNING; "
                      f"a test call from {proxy.name} answered in {call.response_ms['p50']:.0f} ms")

    def _counters(self, node: Host) -> tuple[int, int]:
        counts = external_counts(self.state, node.name)
        return counts.get("CALLS-IN", 0), counts.get("FAILED-CALLS-IN", 0)

    def _soak(self, node: Host, change: HostChange) -> None:
        calls0, failed0 = self._counters(node)
        time.sleep(self.r.soak_s)
        calls1, failed1 = self._counters(node)
        calls, failed = calls1 - calls0, failed1 - failed0
        share = failed / calls if calls else float(failed > 0)  # refused before it counted a call: all failed
        self.event(node.name, "soaked", f"{self.r.soak_s:g} s: {calls} calls in, {failed} failed ({100 * share:.2f} %)")
        if share > self.r.max_failed:
            self.fail(change, f"canary {node.name} failed {failed} of {calls} calls in its soak "
                              f"({100 * share:.2f} %, more than {100 * self.r.max_failed:g} %)")

    def _wait_calls(self, host: str, count: Callable[[], int], what: str) -> None:
        t0 = time.monotonic()
        left = count()
        while left and time.monotonic() - t0 < self.r.drain_timeout_s:
            time.sleep(0.5)
            left = count()
        waited = round(time.monotonic() - t0, 1)
        self.r.waits[host] = waited
        self.event(host, "calls left", f"{left} {what} after {waited} s" +
                   (f" (drain timeout {self.r.drain_timeout_s:g} s: they end with the restart)" if left else ""))

    # --- media relays ---
    def _rtpengine_url(self, relay: Host) -> str:
        return f"udp:{relay.address}:2223"

    def _rtpengine(self, relay: Host, change: HostChange, tree: str, word: str, rolling_back: bool) -> None:
        proxies = self.plan.hosts_of(relay.site, "sip-proxy")
        url = self._rtpengine_url(relay)
        for p in proxies:
            self._kamcmd(p, "rtpengine.enable", url, "0")
        self.event(relay.name, "drained", f"disabled in the rtpengine module of {', '.join(p.name for p in proxies)}")
        self._wait_calls(relay.name, lambda: relay_sessions(self.state.center, relay.name) or 0, "sessions")
        self.place(relay, tree, word)
        self.restart(relay, "rtpengine")
        try:
            wait_until(f"rtpengine on {relay.name} answering its CLI", lambda: relay_sessions(self.state.center, relay.name) is not None,
                       PROBE_TIMEOUT_S, 0.3)
            ok, why = True, "its CLI answers"
        except LabError as exc:
            ok, why = False, str(exc)
        for p in proxies:
            self._kamcmd(p, "rtpengine.enable", url, "1")
        self.event(relay.name, "back", f"enabled in the rtpengine module again ({why})")
        if not ok and not rolling_back:
            self.fail(change, f"{relay.name}: {why}")

    # --- recording stores ---
    def _recording(self, host: Host, change: HostChange, tree: str, word: str, rolling_back: bool) -> None:
        self.place(host, tree, word)
        self.event(host.name, "probed", "files placed (a store runs no call-carrying program in the lab)")

    # --- proxy pairs ---
    def _probe_proxy(self, proxy: Host) -> tuple[bool, str]:
        try:
            wait_proxy(self.state.center, self.plan, proxy, PROBE_TIMEOUT_S)
        except LabError as exc:
            return False, str(exc)
        return True, "OPTIONS answered"

    def _sip_proxy(self, proxy: Host, change: HostChange, tree: str, word: str, rolling_back: bool) -> None:
        site = proxy.site
        master = change.vip == "master"
        if master:
            keep = next((p for p in self.state.processes if p.host == proxy.name and p.name == "keepalived" and alive(p)), None)
            if keep:
                stop_proc(self.state, keep)
            peer = [h.name for h in self.plan.hosts_of(site, "sip-proxy") if h.name != proxy.name]
            wait_until(f"the VIP of {site} on {', '.join(peer)}",
                       lambda: vip_holders(self.state.center, self.plan, site) == peer, 20, 0.05)
            self.event(proxy.name, "VIP handed over", f"keepalived stopped; {', '.join(peer)} holds {self.plan.site(site).vip}")
        self.place(proxy, tree, word)
        self.restart(proxy, "kamailio")
        ok, why = self._probe_proxy(proxy)
        self.event(proxy.name, "probed" if ok else "probe failed", why)
        if master:
            self.restart(proxy, "keepalived")
            try:
                wait_until(f"the VIP of {site} back on {proxy.name}",
                           lambda: vip_holders(self.state.center, self.plan, site) == [proxy.name], 20, 0.05)
                self.event(proxy.name, "VIP back", f"{proxy.name} holds {self.plan.site(site).vip} again")
            except LabError as exc:
                ok, why = False, str(exc)
        if not ok and not rolling_back:
            self.fail(change, f"{proxy.name}: {why}")
