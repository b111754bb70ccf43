"""Validate + plan + render at scale, and the same files rendered by ansible-core's template module.

A real-shaped blueprint for N seats over S sites is generated in memory (first site primary,
the second a standby, the rest primary/burst, mixed on-prem and cloud; /16 and /20 networks;
seat pools with skills whose counts sum to N; queues per skill; IVR menus; auto-sized trunks with
env: secret references; a forecast whose Erlang C need is about N agents). Each stage is timed
with time.perf_counter: validate_data, build_plan, render_site (the real writes, the manifest,
the atomic rename; no program checks). Best of 3 up to 10,000 seats, one run above.

Then ansible-core renders THE SAME files (same template sources, same variables) with its
`template` module, locally, in one playbook run; the whole run is timed by the wall clock and
a sample of its files is compared byte for byte with trunkline's.

Goals (issue 2): a 10,000-seat, 20-site center in under 1 s, and at least 20x faster than the
Ansible run. Issue 17: 100,000 seats in at most 10x the time of 10,000 over the same sites (the
site-wide files, a site's agents and tiers, are templated once per site, not per media node; each
media node still gets its copy, so the bytes written grow with seats x nodes per site). The
figures are printed; the script exits 0 whether the goals are met or not.

    .venv/bin/python benchmarks/render_scale.py [--seats 1000,10000,100000] [--sites 20]
        [--ansible-seats 1000,10000] [--ansible-timeout 1200] [--json]
"""

from __future__ import annotations

import argparse
import difflib
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from trunkline.blueprint.load import validate_data  # noqa: E402
from trunkline.plan.topology import Plan, build_plan  # noqa: E402
from trunkline.render import MANIFEST, TEMPLATES, RenderedFile, constants, header_for, render_plan, render_site  # noqa: E402
from trunkline.render.check import check_file, check_tree  # noqa: E402

GOAL_SEATS, GOAL_SITES, GOAL_S, GOAL_RATIO = 10_000, 20, 1.0, 20.0
GOAL_SCALE = 10.0  # issue 17: 100,000 seats in at most 10x the time of 10,000 (the same sites)
AHT_S, SHRINKAGE, OCCUPANCY = 240, 0.30, 0.85
SKILLS = ["general", "billing", "tech", "sales", "retention", "fraud"]
POOL_KINDS = [  # pool suffix, skills, share of the site's seats
    ("front", ["general", "billing"], 0.5),
    ("tech", ["tech", "general"], 0.3),
    ("sales", ["sales", "retention"], 0.15),
    ("fraud", ["fraud", "billing"], 0.05),
]
CLOUDS = ["aws", "azure", "gcp", "aliyun", "tencent"]


# --- the blueprint ------------------------------------------------------------------------------


def _spread(total: int, weights: list[float]) -> list[int]:
    """Whole numbers in proportion to weights, summing exactly to total (largest remainder)."""
    raw = [total * w / sum(weights) for w in weights]
    out = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[: total - sum(out)]:
        out[i] += 1
    return out


def blueprint_data(seats: int, n_sites: int) -> dict:
    """Plain blueprint data (as read from YAML) for `seats` agents over `n_sites` sites."""
    if n_sites < 2:
        raise SystemExit("--sites: at least 2 (a primary and a standby)")
    sites = []
    for i in range(n_sites):
        role = "primary" if i == 0 else "standby" if i == 1 else ("primary" if i % 2 == 0 else "burst")
        cloud = i % 3 == 2
        site = {
            "name": f"site{i:02d}",
            "kind": "cloud" if cloud else "onprem",
            "role": role,
            "timezone": ["Europe/Berlin", "America/Chicago", "Asia/Singapore"][i % 3],
            # /16 on even sites, /20 on odd ones; either holds thousands of hosts
            "network": {"cidr": f"10.{i + 1}.0.0/16" if i % 2 == 0 else f"10.{i + 1}.0.0/20"},
            "sip_proxy": {"ha": "pair"},
            "media": {"engine": "freeswitch", "nodes": "auto", "calls_per_node": 200},
        }
        if cloud:
            site |= {"provider": CLOUDS[i % len(CLOUDS)], "region": f"region-{i % 4}"}
        elif i % 4 == 3:
            site["provider"] = "private"
        sites.append(site)
    serving = [s["name"] for s in sites if s["role"] != "standby"]
    # the primaries carry more than the burst sites
    per_site = _spread(seats, [3.0 if sites[[s["name"] for s in sites].index(n)]["role"] == "primary" else 2.0 for n in serving])
    pools = []
    for name, n in zip(serving, per_site):
        counts = _spread(n, [share for _, _, share in POOL_KINDS])
        for (suffix, skills, _), count in zip(POOL_KINDS, counts):
            pools.append({"pool": f"{name}-{suffix}", "count": count, "skills": skills, "site": name, "languages": ["en-US"]})
    n_trunks = max(2, n_sites // 5)
    trunks = []
    for t in range(n_trunks):
        terminates = [s["name"] for k, s in enumerate(sites) if k % n_trunks == t]
        trunks.append({
            "name": f"carrier-{t}", "transport": "tls", "channels": "auto", "grade_of_service": 0.01,
            "codecs": ["PCMA", "G722"] if t % 2 == 0 else ["PCMU"],
            "peers": [f"203.0.113.{10 + 2 * t}", f"203.0.113.{11 + 2 * t}"], "sites": terminates,
            "credentials": {"username": f"trunk-{t}", "secret": f"env:CARRIER_{t}_PASSWORD"},
        })
    # calls per hour so that Erlang C (occupancy-capped at 0.85, 30 % shrinkage) needs about `seats`
    calls = seats * (1 - SHRINKAGE) * OCCUPANCY * 3600 / AHT_S * 0.995
    return {
        "apiVersion": "trunkline/v1",
        "kind": "Center",
        "metadata": {"name": f"bench-{seats}", "customer": f"Benchmark {seats} seats", "industry": "finance",
                     "labels": {"generated-by": "render-scale"}},
        "spec": {
            "timezone": "UTC",
            "timezones": ["Europe/Berlin", "America/Chicago", "Asia/Singapore"],
            "languages": ["en-US", "de-DE", "zh-CN"],
            "forecast": {
                "peak_calls_per_hour": round(calls, 1), "average_handle_time": f"{AHT_S}s",
                "service_level": {"answer_within": "20s", "target": 0.8},
                "shrinkage": SHRINKAGE, "max_occupancy": OCCUPANCY, "outbound_share": 0.1,
            },
            "seats": pools,
            "trunks": trunks,
            "sites": sites,
            "ivr": [
                {"name": "main", "entry": True, "greeting": "ivr/bench-welcome.wav", "language": "en-US", "timeout": "8s",
                 "options": {"1": {"queue": "general"}, "2": {"queue": "billing"}, "3": {"queue": "tech"},
                             "4": {"menu": "more"}, "9": {"menu": "deutsch"}, "0": {"queue": "general", "say": "ivr/bench-hold.wav"}}},
                {"name": "more", "greeting": "ivr/bench-more.wav", "options": {"1": {"queue": "sales"}, "2": {"queue": "retention"},
                                                                                "3": {"queue": "fraud"}, "*": {"menu": "main"}}},
                {"name": "deutsch", "greeting": "ivr/bench-de.wav", "language": "de-DE",
                 "options": {"1": {"queue": "general"}, "2": {"queue": "billing"}}},
            ],
            "queues": [{"name": s, "skill": s, "max_wait": "5m" if s != "fraud" else "2m"} for s in SKILLS],
            "recording": {"mode": "all", "format": "opus", "pause_on_payment": True,
                          "storage": {"kind": "nfs", "path": "/srv/recordings", "encryption": "aes-256"}, "retention": "2y"},
            "security": {"sip_tls_min": "1.2", "srtp": "required", "admin_cidrs": ["10.0.0.0/8"], "pike": True},
            "compliance": ["pci-dss-4", "finance-retention"],
            "upgrades": {"strategy": "rolling", "canary_percent": 10},
            "dr": {"rto": "5m", "rpo": "15m"},
        },
    }


# --- trunkline ----------------------------------------------------------------------------------


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_trunkline(seats: int, n_sites: int, repeats: int, work: Path) -> tuple[dict, Plan, list[RenderedFile], Path]:
    """Time validate, plan and render; keep the output of the best run for the comparison."""
    data = blueprint_data(seats, n_sites)
    source = f"<generated {seats} seats, {n_sites} sites>"
    runs, kept = [], None
    for rep in range(repeats):
        out = work / f"out-{rep}"
        gc.collect()
        c0, t0 = _cpu(), time.perf_counter()
        center = validate_data(data, source=source)
        t1 = time.perf_counter()
        plan = build_plan(center, source=source)
        t2 = time.perf_counter()
        files = render_site(plan, out, check=False)
        t3, c3 = time.perf_counter(), _cpu()
        runs.append({"validate_s": t1 - t0, "plan_s": t2 - t1, "render_s": t3 - t2, "total_s": t3 - t0,
                     "cpu_s": c3 - c0, "out": out})
    best = min(runs, key=lambda r: r["total_s"])
    kept = best["out"]
    for r in runs:  # keep one tree (for the comparison); deleted only now, so no run waits on deletes
        if r is not best:
            shutil.rmtree(r["out"])
    # not a stage: how much of render_site is templating in memory (the rest is writing the tree)
    in_memory = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        render_plan(plan)
        in_memory.append(time.perf_counter() - t0)
    fig = {
        **time_checks(kept, repeats),
        "seats": seats, "sites": n_sites, "hosts": len(plan.hosts), "files": len(files),
        "mb_written": _du(kept) / 1e6, "runs": len(runs),
        "seats_total": plan.sizing.seats_total, "erlang_c_scheduled": plan.sizing.scheduled_agents,
        "validate_s": best["validate_s"], "plan_s": best["plan_s"], "render_s": best["render_s"], "total_s": best["total_s"],
        "cpu_s": best["cpu_s"], "render_in_memory_s": min(in_memory), "all_totals_s": [r["total_s"] for r in runs],
        "warnings": list(plan.warnings),
    }
    return fig, plan, files, kept


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the checkers), user + system."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def time_checks(tree: Path, repeats: int) -> dict:
    """The real programs' checks of a render tree: one file after another (as before issue 17), and
    check_tree (concurrent, identical inputs once). Best wall clock of `repeats`, with CPU seconds."""
    entries = json.loads((tree / MANIFEST).read_text())["files"]

    def one_by_one() -> None:
        for e in entries:
            check_file(tree / e["host"], e["path"])

    fig = {}
    for name, run in (("checks_serial", one_by_one), ("checks", lambda: check_tree(tree))):
        best = None
        for _ in range(repeats):
            c0, t0 = _cpu(), time.perf_counter()
            run()
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            best = min(best or (wall, cpu), (wall, cpu))
        fig[f"{name}_s"], fig[f"{name}_cpu_s"] = best
    return fig


# --- the same files with ansible-core -----------------------------------------------------------

FILTER_PLUGIN = '''\
"""trunkline's Jinja filters, for ansible-core: the very functions of trunkline.render (same Python)."""
from trunkline.render import filters


class FilterModule:
    def filters(self):
        return filters()
'''
TEST_PLUGIN = '''\
"""trunkline's Jinja test `contains` (ansible.builtin.contains does the same; this one is ours)."""


class TestModule:
    def tests(self):
        return {"contains": lambda seq, item: item in seq}
'''
LOOKUP_PLUGIN = '''\
"""trunkline's global secret(ref): the marker the apply step resolves on the host, never a value."""
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        from trunkline.secrets import marker

        return [marker(t) for t in terms]
'''


def ansible_templates(dst: Path) -> dict[str, int]:
    """COPIES of templates/ for ansible-core, rewritten where Ansible cannot take them as they are.

    * `secret(ref)` is a global of trunkline's Jinja environment; Ansible templates cannot be
      given extra globals, so the copies call the lookup plugin above instead:
      `secret(x)` -> `lookup('trunkline_secret', x)` (same marker, same bytes);
    * `plan.hosts_of(site, role)` is a method of trunkline's Plan model; Ansible gets the plan
      as plain JSON data, so the copies select the same hosts with filters, in the same order;
    * trailing newlines: the template module has no keep_trailing_newline option. Ansible renders
      without it (Jinja drops the source's last newline) and then appends as many newlines as
      the SOURCE ends with, minus those the result already ends with. That differs from
      keep_trailing_newline=True when the template ends in a block tag: trim_blocks eats the
      newline after `{% endfor %}`, so `...{% endfor %}\n\n` gives one newline in trunkline and
      two in Ansible (seen on recording/.../trunkline.exports.j2). Each copy therefore ends with
      a Jinja comment after its last newline: Jinja then drops nothing, the source ends with no
      newline so Ansible appends nothing, and the output is what keep_trailing_newline=True gives.
    The originals are not touched.
    """
    counts = {"secret": 0, "hosts_of": 0}
    hosts_of = re.compile(r"plan\.hosts_of\(\s*([^,()]+?)\s*,\s*(\"[^\"]*\"|'[^']*')\s*\)")
    for src in TEMPLATES.rglob("*.j2"):
        text = src.read_text()
        text, n = re.subn(r"\bsecret\(", "lookup('trunkline_secret', ", text)
        counts["secret"] += n
        text, n = hosts_of.subn(r'(plan.hosts | selectattr("site", "equalto", \1) | selectattr("role", "equalto", \2) | list)', text)
        counts["hosts_of"] += n
        text += "{# keep_trailing_newline, the Ansible way: see ansible_templates() #}"
        out = dst / src.relative_to(TEMPLATES)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return counts


def ansible_project(plan: Plan, files: list[RenderedFile], work: Path) -> tuple[Path, list[str], int, dict]:
    """A playbook, its variables, plugins and template copies; returns (playbook, folders, files).

    The file list is the one trunkline rendered (host, template, target path, mode), so Ansible
    renders exactly those files whatever trunkline.render's output map holds.
    """
    (work / "filter_plugins").mkdir(parents=True)
    (work / "filter_plugins" / "trunkline_filters.py").write_text(FILTER_PLUGIN)
    (work / "test_plugins").mkdir()
    (work / "test_plugins" / "trunkline_tests.py").write_text(TEST_PLUGIN)
    (work / "lookup_plugins").mkdir()
    (work / "lookup_plugins" / "trunkline_secret.py").write_text(LOOKUP_PLUGIN)
    rewrites = ansible_templates(work / "templates")
    pdata = plan.model_dump(mode="json")
    sites = {s["name"]: s for s in pdata["sites"]}
    hosts = {h["name"]: h for h in pdata["hosts"]}
    items = []
    for f in files:
        comment = "xml" if f.template.endswith(".xml.j2") else "#"  # as trunkline.render.render_host
        items.append({
            "src": str(work / "templates" / f.template),
            "dest": str(work / "out" / f.host / f.path.lstrip("/")),
            "mode": f.mode, "host": hosts[f.host], "site": hosts[f.host]["site"],
            "header": header_for(plan, f.template, comment),
        })
    dirs = sorted({str(Path(i["dest"]).parent) for i in items})
    variables = {"plan": pdata, "sites_by_name": sites, "files": items, "dirs": dirs,
                 **json.loads(json.dumps(constants()))}  # render's globals, as JSON gives them to Ansible
    (work / "vars.json").write_text(json.dumps(variables))
    playbook = [{
        "name": "render trunkline's files with ansible-core's template module",
        "hosts": "localhost", "gather_facts": False,
        "vars_files": ["vars.json"],
        "tasks": [
            {"name": "folders", "ansible.builtin.file": {"path": "{{ item }}", "state": "directory", "mode": "0755"},
             "loop": "{{ dirs }}"},
            {"name": "files", "ansible.builtin.template": {
                "src": "{{ item.src }}", "dest": "{{ item.dest }}", "mode": "{{ item.mode }}",
                # as trunkline's environment (keep_trailing_newline: see ansible_templates)
                "trim_blocks": True, "lstrip_blocks": True, "newline_sequence": "\n"},
             "vars": {"host": "{{ item.host }}", "site": "{{ sites_by_name[item.site] }}", "header": "{{ item.header }}"},
             "loop": "{{ files }}", "loop_control": {"label": "{{ item.dest }}"}},
        ],
    }]
    pb = work / "render.yml"
    pb.write_text(json.dumps(playbook, indent=1))  # JSON is YAML
    return pb, dirs, len(items), rewrites


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            ppid = int(rest.rsplit(") ", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(pid))
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _kill_tree(root: int) -> None:
    """SIGKILL the playbook started above and everything under it, by pid.

    Not by process group alone: ansible-core's workers call setsid(), so they leave the group.
    The tree is frozen first (SIGSTOP), so nothing forks between the listing and the kill.
    """
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in _tree(root):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def run_ansible(plan: Plan, files: list[RenderedFile], trunkline_out: Path, work: Path, timeout_s: float, sample: int) -> dict:
    playbook, dirs, n_files, rewrites = ansible_project(plan, files, work)
    want_dirs = set(dirs)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp-local"), "ANSIBLE_REMOTE_TEMP": str(work / "tmp-remote"),
        "ANSIBLE_HOME": str(work / "home"), "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PIPELINING": "1",  # only makes Ansible faster: the ratio stays on the safe side
        "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
    })
    (work / "ansible.cfg").write_text("[defaults]\n")  # no user or project ansible.cfg in the way
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    log = work / "ansible.log"
    out_dir = work / "out"
    done = threading.Event()

    def progress(t0: float) -> None:
        while not done.wait(15):
            found = list(out_dir.rglob("*")) if out_dir.exists() else []
            n = sum(1 for p in found if p.is_file())
            d = sum(1 for p in found if str(p) in want_dirs)
            print(f"    ansible: {d}/{len(want_dirs)} folders, {n}/{n_files} files after {time.monotonic() - t0:.0f} s",
                  file=sys.stderr, flush=True)

    print(f"  ansible-playbook: {len(want_dirs)} folders, {n_files} files, timeout {timeout_s:.0f} s ...", file=sys.stderr, flush=True)
    with open(log, "wb") as fh:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        watcher = threading.Thread(target=progress, args=(t0,), daemon=True)
        watcher.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc.pid)
            rc = proc.wait()
        except BaseException:  # Ctrl-C: leave no playbook behind
            _kill_tree(proc.pid)
            proc.wait()
            done.set()
            raise
        elapsed = time.monotonic() - t0
        done.set()
        watcher.join()
    fig = {"files": n_files, "folders": len(dirs), "ansible_s": elapsed, "rc": rc, "timed_out": timed_out,
           "template_rewrites": rewrites}
    if rc != 0 or timed_out:
        fig["log_tail"] = log.read_text(errors="replace")[-3000:]
        fig.update(compared=0, identical=0)
        return fig
    fig.update(compare(trunkline_out, out_dir, plan, sample))
    return fig


def compare(ours: Path, theirs: Path, plan: Plan, sample: int) -> dict:
    """Byte-compare a sample: every template at least once, then files spread over all hosts."""
    rel = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file())
    by_template: dict[str, str] = {}
    for r in rel:
        by_template.setdefault(r.split("/", 1)[1], r)
    step = max(1, len(rel) // max(1, sample - len(by_template)))
    picked = sorted(set(by_template.values()) | set(rel[::step]))
    identical, diffs = 0, []
    for r in picked:
        a, b = (ours / r).read_bytes(), (theirs / r).read_bytes()
        if a == b:
            identical += 1
        elif len(diffs) < 3:
            d = difflib.unified_diff(a.decode().splitlines(True), b.decode().splitlines(True), f"trunkline/{r}", f"ansible/{r}", n=1)
            diffs.append("".join(list(d)[:20]))
    out = {"compared": len(picked), "identical": identical, "ansible_files_total": len(rel)}
    if diffs:
        out["first_diffs"] = diffs
    return out


# --- main ---------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seats", default="1000,10000,100000", help="center sizes, comma-separated")
    ap.add_argument("--sites", type=int, default=GOAL_SITES)
    ap.add_argument("--ansible-seats", default="1000,10000", help="sizes also rendered by ansible-core ('' for none)")
    ap.add_argument("--ansible-timeout", type=float, default=1200.0, help="seconds per ansible-playbook run")
    ap.add_argument("--sample", type=int, default=200, help="files byte-compared per ansible run")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = ap.parse_args()
    sizes, ansible_sizes = _ints(args.seats), _ints(args.ansible_seats)
    say = lambda *a, **k: print(*a, file=sys.stderr, **k)  # progress; the figures go to stdout

    results, comparisons = [], []
    load_start = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="trunkline-bench-"))
    try:
        for seats in sorted(set(sizes) | set(ansible_sizes)):
            work = base / f"s{seats}"
            work.mkdir()
            repeats = 3 if seats <= 10_000 else 1
            say(f"trunkline: {seats} seats, {args.sites} sites, {repeats} run(s) ...", flush=True)
            fig, plan, files, out = run_trunkline(seats, args.sites, repeats, work)
            if seats in sizes:
                results.append(fig)
            if seats in ansible_sizes:
                cmp = run_ansible(plan, files, out, work / "ansible", args.ansible_timeout, args.sample)
                cmp = {"seats": seats, "sites": args.sites, "trunkline_total_s": fig["total_s"],
                       "trunkline_render_s": fig["render_s"], **cmp}
                ok = cmp["rc"] == 0 and not cmp["timed_out"]
                cmp["ratio_total"] = cmp["ansible_s"] / fig["total_s"] if ok else None
                cmp["ratio_render"] = cmp["ansible_s"] / fig["render_s"] if ok else None
                # a ratio only counts when Ansible made the same bytes
                cmp["same_bytes"] = bool(ok and cmp["compared"] and cmp["identical"] == cmp["compared"])
                cmp["goal_met"] = bool(cmp["same_bytes"] and cmp["ratio_total"] >= GOAL_RATIO)
                comparisons.append(cmp)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    goal = next((r for r in results if r["seats"] == GOAL_SEATS and r["sites"] == GOAL_SITES), None)
    machine = {"cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
               "python": sys.version.split()[0]}
    summary = {
        "goal_10k_under_1s": None if goal is None else goal["total_s"] < GOAL_S,
        "goal_20x_ansible": None if not comparisons else all(c["goal_met"] for c in comparisons),
    }
    if args.json:
        print(json.dumps({"machine": machine, "trunkline": results, "ansible": comparisons, "goals": summary}, indent=2))
        return 0

    print()
    print(f"machine: {machine['cpus']} CPUs, load average {machine['loadavg_start'][0]:.1f} at the start, "
          f"{machine['loadavg_end'][0]:.1f} at the end (other work on the machine skews the figures)")
    print("trunkline: validate + plan + render_site (real writes, manifest, atomic rename; no program checks)")
    head = f"{'seats':>8} {'sites':>5} {'hosts':>6} {'files':>6} {'MB':>9} {'validate s':>10} {'plan s':>8} {'render s':>9} {'(in mem)':>8} {'total s':>8} {'CPU s':>6} {'Erlang C':>8}  runs"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['seats']:>8} {r['sites']:>5} {r['hosts']:>6} {r['files']:>6} {r['mb_written']:>9.1f} {r['validate_s']:>10.3f}"
              f" {r['plan_s']:>8.3f} {r['render_s']:>9.3f} {r['render_in_memory_s']:>8.3f} {r['total_s']:>8.3f} {r['cpu_s']:>6.2f} {r['erlang_c_scheduled']:>8}  best of {r['runs']}")
    for r in results:
        if r["seats_total"] != r["seats"] or abs(r["erlang_c_scheduled"] - r["seats"]) > 0.02 * r["seats"]:
            print(f"  note: {r['seats']} seats: pools hold {r['seats_total']}, Erlang C schedules {r['erlang_c_scheduled']}")
    print("(in mem) = render_plan alone, best of the same number of runs: templating without writing the tree")
    print("CPU s = this process's user + system CPU over validate + plan + render (writing the tree is mostly system CPU)")
    for small, big in ((a, b) for a in results for b in results if b["seats"] == 10 * a["seats"] and b["sites"] == a["sites"]):
        print(f"scale: {big['seats']} seats against {small['seats']}: total {big['total_s'] / small['total_s']:.1f}x, "
              f"CPU {big['cpu_s'] / small['cpu_s']:.1f}x, in memory {big['render_in_memory_s'] / small['render_in_memory_s']:.1f}x, "
              f"bytes written {big['mb_written'] / small['mb_written']:.0f}x "
              f"(goal: total <= {GOAL_SCALE:.0f}x -> {'MET' if big['total_s'] <= GOAL_SCALE * small['total_s'] else 'MISSED'})")
    print()
    print("the real programs' checks of that tree (kamailio -c, keepalived -t, sh -n, XML and INI parsers), best wall clock")
    head = f"{'seats':>8} {'render s':>9} {'one by one s':>12} {'(CPU s)':>8} {'check_tree s':>12} {'(CPU s)':>8} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['seats']:>8} {r['render_s']:>9.3f} {r['checks_serial_s']:>12.3f} {r['checks_serial_cpu_s']:>8.3f}"
              f" {r['checks_s']:>12.3f} {r['checks_cpu_s']:>8.3f} {r['checks_s'] / r['checks_serial_s']:>6.2f}")
    print("one by one = every file in turn (before); check_tree = a thread per core, identical inputs checked once")
    print("Erlang C = agents the generated forecast schedules (30 % shrinkage); the seat pools hold exactly `seats`")
    for r in results:
        for w in r["warnings"]:
            print(f"  plan warning ({r['seats']} seats): {w}")
    if goal is None:
        print(f"goal: {GOAL_SEATS} seats / {GOAL_SITES} sites < {GOAL_S:.0f} s: not measured (not in --seats/--sites)")
    else:
        print(f"goal: {GOAL_SEATS} seats / {GOAL_SITES} sites < {GOAL_S:.0f} s: {goal['total_s']:.3f} s -> "
              f"{'MET' if summary['goal_10k_under_1s'] else 'MISSED'}")

    if comparisons:
        print()
        print("ansible-core template module, same files, same templates and variables, one local run (wall clock)")
        head = f"{'seats':>8} {'files':>6} {'ansible s':>10} {'trunkline s':>12} {'ratio':>7} {'render-only ratio':>18} {'compared':>9} {'identical':>9}  goal >= {GOAL_RATIO:.0f}x"
        print(head)
        print("-" * len(head))
        for c in comparisons:
            if c["ratio_total"] is None:
                why = "TIMED OUT" if c["timed_out"] else f"FAILED rc={c['rc']}"
                print(f"{c['seats']:>8} {c['files']:>6} {c['ansible_s']:>10.1f} {c['trunkline_total_s']:>12.3f} {'-':>7} {'-':>18} {'-':>9} {'-':>9}  {why}")
                if c.get("log_tail"):
                    print("    " + c["log_tail"][-1500:].replace("\n", "\n    "))
                continue
            print(f"{c['seats']:>8} {c['files']:>6} {c['ansible_s']:>10.1f} {c['trunkline_total_s']:>12.3f} {c['ratio_total']:>6.0f}x"
                  f" {c['ratio_render']:>17.0f}x {c['compared']:>9} {c['identical']:>9}  {'MET' if c['goal_met'] else 'MISSED'}")
            for d in c.get("first_diffs", []):
                print("    " + d.replace("\n", "\n    "))
        print("ratio = ansible wall clock / trunkline validate+plan+render; render-only ratio = / render_site alone")
        rw = comparisons[0].get("template_rewrites") or {}
        print(f"ansible run: ansible-playbook -i localhost, -c local, pipelining on, a file task looping over the "
              f"folders then a template task looping over the files; template copies: {rw.get('secret', 0)} secret() -> "
              f"lookup, {rw.get('hosts_of', 0)} plan.hosts_of() -> selectattr, a closing comment for the trailing newline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
