"""Bounded time and memory for any input (issue 11, section 3).

The named bombs (alias expansion, a 50 MB file, 10**12 seats, 1e12 calls an hour, a 100 KB
customer name, deep nesting) are refused with a located error by the real command in its own
process, inside generous bounds (wall under 5 s, peak RSS under 200 MB: a behaviour bound,
not a benchmark). Every range means something for a contact center; values outside it exit 2
with a located error, never a traceback. A hypothesis run over random and hostile documents
finds no input that makes `validate` or `plan` show a traceback or exit other than 0 or 2.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from trunkline.blueprint.load import validate_data
from trunkline.blueprint.models import MAX_FILE_BYTES, MAX_SEATS
from trunkline.cli import app
from trunkline.errors import BlueprintError, PlanError
from trunkline.plan.topology import build_plan

from shared import BASE, EXAMPLES, ROOT, field_paths

WALL_S = 5.0
RSS_MB = 200
TEXT = BASE.read_text()


# The child reports its own peak (VmHWM of its process after exec) at exit: wait4's ru_maxrss would
# also count the parent's memory, which a forked child carries until it execs.
_CHILD = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as f:
        kb = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["TRUNKLINE_TEST_PEAK_FILE"], "w") as out:
        out.write(kb)
atexit.register(_peak)
from trunkline.cli import app
app()
"""


def _measured(*args) -> tuple[int, str, float, float]:
    """(exit code, stderr, wall seconds, peak RSS in MB) of `trunkline ARGS` in its own process."""
    with tempfile.NamedTemporaryFile("r") as peak:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, *map(str, args)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "TRUNKLINE_TEST_PEAK_FILE": peak.name})
        try:
            err = proc.communicate(timeout=60)[1]  # a regression fails the test instead of hanging the run
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1] + "\n(killed after 60 s)"
        wall = time.monotonic() - start
        kb = peak.read().strip()
    return proc.returncode, err, wall, int(kb) / 1024 if kb else float("inf")


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


BOMBS = {
    # name: (blueprint text, where the error must point (line), what it must say)
    "alias bomb (billion laughs)": (TEXT + "bomb:\n" + _bomb(), None, "expands to more than"),
    "alias inside its own anchor": (TEXT + "loop: &loop [*loop]\n", None, "inside its own anchor"),
    "deep nesting": (TEXT + "deep: " + "[" * 100_000 + "]" * 100_000 + "\n", None, "nests deeper than"),
    "50 MB file": (TEXT + ("# " + "x" * 1022 + "\n") * (50 * 1024), 1, f"larger than {MAX_FILE_BYTES // 1024} KiB"),
    "10**12 seats": (TEXT.replace("count: auto", "count: 1000000000000"), 15, "less than or equal to 100000"),
    "1e12 calls an hour": (TEXT.replace("peak_calls_per_hour: 120", "peak_calls_per_hour: 1.0e+12"), 11, "less than or equal to 2000000"),
    "100 KB customer name": (TEXT.replace("customer: Small Shop Ltd", "customer: " + "A" * 100_000), 5, "longer than 200 characters"),
    "5000-digit integer": (TEXT.replace("peak_calls_per_hour: 120", "peak_calls_per_hour: " + "9" * 5000), None, "not readable as YAML"),
}


@pytest.mark.parametrize("name", BOMBS)
def test_bomb_is_refused_with_a_located_error_in_bounded_time_and_memory(tmp_path, name):
    text, line, what = BOMBS[name]
    path = tmp_path / "center.yaml"
    path.write_text(text)
    code, err, wall, rss = _measured("plan", path)
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"{path}:{line if line else ''}"), first[:300]
    assert what in first, first[:300]
    assert len(first) < 1000, "the message quotes at most a cut of the value"
    assert wall < WALL_S, f"{name}: {wall:.1f} s"
    assert rss < RSS_MB, f"{name}: {rss:.0f} MB"


def test_file_over_the_limit_is_refused_without_reading_it_whole(tmp_path):
    """A file much larger than the limit costs what the limit costs (nothing past it is read)."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(TEXT.encode())
        f.truncate(2 * 1024**3)  # 2 GiB, sparse: reading it whole would take seconds and gigabytes
    code, err, wall, rss = _measured("validate", path)
    assert code == 2 and "larger than" in err
    assert wall < WALL_S and rss < RSS_MB


def test_a_device_that_never_ends_is_refused(tmp_path):
    code, err, wall, _ = _measured("validate", "/dev/zero")
    assert code == 2 and "larger than" in err and wall < WALL_S


# --- ranges that mean something for a contact center -------------------------------------------

RANGES = [
    # (--set expression, what the message says); each also crashed or ran away before
    ("spec.seats[0].count=0", "greater than or equal to 1"),
    ("spec.seats[0].count=-3", "greater than or equal to 1"),
    ("spec.seats[0].count=1000000000000", "less than or equal to 100000"),
    ("spec.forecast.peak_calls_per_hour=.inf", "not a finite number"),
    ("spec.forecast.peak_calls_per_hour=.nan", "not a finite number"),
    ("spec.forecast.peak_calls_per_hour=-5", "greater than or equal to 0"),
    ("spec.forecast.average_handle_time=0s", "give a duration from 1s to 2h"),
    ("spec.forecast.average_handle_time=30d", "give a duration from 1s to 2h"),
    ("spec.forecast.average_handle_time=99999999999999999999y", "is not a duration"),
    ("spec.forecast.service_level.answer_within=0s", "from 1s to 1h"),
    ("spec.forecast.max_occupancy=0.0001", "greater than or equal to 0.3"),
    ("spec.forecast.shrinkage=0.9999", "less than or equal to 0.9"),
    ("spec.forecast.daily_calls=-1", "greater than or equal to 0"),
    ("spec.trunks[0].channels=-1", "greater than or equal to 1"),
    ("spec.trunks[0].channels=0", "greater than or equal to 1"),
    ("spec.trunks[0].channels=1000000000", "less than or equal to 200000"),
    ("spec.trunks[0].grade_of_service=1e-300", "greater than or equal to 0.0001"),
    ("spec.trunks[0].port=70000", "less than or equal to 65535"),
    ("spec.sites[0].media={calls_per_node: 0}", "greater than or equal to 10"),
    ("spec.sites[0].media={nodes: 100000}", "less than or equal to 1000"),
    ("spec.sites[0].sip_proxy={max_cps: 0}", "greater than or equal to 1"),
    ("spec.recording.retention=0d", "from 1d to 100y"),
    ("spec.dr.rto=0s", "from 1s to 1mo"),
    ("spec.security.pike_requests=0", "greater than or equal to 1"),
    ("spec.queues[0].announce_every=0s", "from 1s to 1h"),
    # totals no single field sees
    ("spec.seats=[{pool: a, count: 60000, site: fra1}, {pool: b, count: 60000, site: fra1}]", "more than the 100,000 of one center"),
    ("spec.forecast={peak_calls_per_hour: 1500000, average_handle_time: 10m, service_level: {answer_within: 20s, target: 0.8}}",
     "need at least 250,000 agents"),
    ("spec.trunks=[{name: a, channels: 150000, peers: [192.0.2.1]}, {name: b, channels: 150000, peers: [192.0.2.2]}]",
     "more than the 200,000 of one center"),
]


@pytest.mark.parametrize(("expr", "message"), RANGES, ids=[e for e, _ in RANGES])
def test_out_of_range_value_exits_2_with_a_located_error(expr, message):
    result = CliRunner().invoke(app, ["plan", str(BASE), "--set", expr])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith(f"--set {expr.split('=', 1)[0]} spec."), result.stderr  # located: the --set that said it
    assert message in result.stderr, result.stderr


def test_media_nodes_a_site_could_need_are_bounded():
    """100,000 E at 20 calls per node would plan thousands of media hosts on one site."""
    result = CliRunner().invoke(app, ["plan", str(BASE), "--set", "spec.forecast.peak_calls_per_hour=1400000",
                                      "--set", "spec.forecast.average_handle_time=240s",
                                      "--set", "spec.sites[0].media={calls_per_node: 20}"])
    assert result.exit_code == 2
    assert "spec.sites[0].media.calls_per_node: at 20 calls per node this site could need more than 1,000" in result.stderr


def _corners():
    """Every corner of the forecast's ranges (lowest and highest of each figure)."""
    names = ["peak_calls_per_hour", "average_handle_time", "answer_within", "target", "shrinkage", "max_occupancy"]
    values = [(0, 2_000_000), ("1s", "2h"), ("1s", "1h"), (0.01, 0.999), (0.0, 0.9), (0.3, 1.0)]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


@pytest.mark.parametrize("corner", _corners(), ids=lambda c: ",".join(str(v) for v in c.values()))
def test_forecast_at_the_corners_of_its_ranges_plans_or_is_refused_cleanly(base_data, corner):
    """Sizing's loops are bounded by the model's ranges: no corner crashes or runs away."""
    doc = copy.deepcopy(base_data)
    fc = doc["spec"]["forecast"]
    fc.update(peak_calls_per_hour=corner["peak_calls_per_hour"], average_handle_time=corner["average_handle_time"],
              shrinkage=corner["shrinkage"], max_occupancy=corner["max_occupancy"],
              service_level={"answer_within": corner["answer_within"], "target": corner["target"]})
    doc["spec"]["sites"][0]["network"]["cidr"] = "10.0.0.0/16"
    start = time.monotonic()
    try:
        plan = build_plan(validate_data(doc))
    except (BlueprintError, PlanError):
        pass
    else:
        assert plan.sizing.scheduled_agents <= MAX_SEATS * 1.1
    assert time.monotonic() - start < WALL_S


# --- no input makes the command line show a traceback ------------------------------------------

LEAVES = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([0, -1, 10**12, 10**18, -(10**30), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Po", "Sm"]), max_size=20),
    st.sampled_from(["auto", "240s", "0s", "-5s", "1e400s", ".inf", "${system(id)}", "{{ x }}", '"/><x', "../../etc/shadow",
                     "env:X\nY", "file:~/.ssh/k", "vault:a#b", "a" * 5000, "10.0.0.0/8", "fe80::1%eth0", "Europe/Berlin"]),
)
TREES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(string.ascii_lowercase + "_-", max_size=8), inner, max_size=4)),
                     max_leaves=12)
DOCS = [YAML(typ="safe").load(p.read_text()) for p in [BASE, *EXAMPLES]]
SNIPPETS = st.sampled_from([
    "x: &a [1, 2]\ny: *a\n", "x: &a {b: 1}\ny: {<<: *a, c: 2}\n", "x: *nope\n", "x: &a [*a]\n", _bomb(6, 10),
    "x: !!python/object:os.system [id]\n", "x: !custom 3\n", "\t- tab\n", "x: [" * 40 + "]" * 40 + "\n",
    "x: \x00\n", "? [a, b]\n: c\n", "---\n---\n", "x: 2001-02-03T04:05:06Z\n", "x: !!binary aGk=\n", "x: 0x1F\n",
    "seats: " + "9" * 4400 + "\n", "'" + "a" * 300 + "': 1\n", "x: |\n  a\n  b\n",
])


NUMBERS = st.one_of(st.integers(-10, 10**13), st.sampled_from([0, 1, 10, 100_000, 200_000, 2_000_000, 10**12, -1]))
FIGURES = [
    ("spec.forecast.peak_calls_per_hour", NUMBERS),
    ("spec.forecast.average_handle_time", st.builds("{}s".format, st.integers(0, 10**6))),
    ("spec.forecast.service_level.answer_within", st.builds("{}s".format, st.integers(0, 10**5))),
    ("spec.forecast.service_level.target", st.floats(0, 1)),
    ("spec.forecast.shrinkage", st.floats(0, 1)),
    ("spec.forecast.max_occupancy", st.floats(0, 1)),
    ("spec.forecast.daily_calls", NUMBERS),
    ("spec.seats[0].count", NUMBERS),
    ("spec.trunks[0].channels", NUMBERS),
    ("spec.trunks[0].grade_of_service", st.floats(0, 1)),
    ("spec.sites[0].media.calls_per_node", NUMBERS),
    ("spec.sites[0].media.nodes", NUMBERS),
    ("spec.sites[0].network.cidr", st.sampled_from(["10.0.0.0/8", "10.0.0.0/16", "10.9.0.0/30", "2001:db8::/32"])),
    ("spec.recording.retention", st.builds("{}d".format, st.integers(0, 10**6))),
]


def _dump(doc) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    stream = __import__("io").StringIO()
    yaml.dump(doc, stream)
    return stream.getvalue()


@st.composite
def hostile_documents(draw) -> tuple[str, list[str]]:
    """(YAML text, --set expressions): a random tree, a mutated example, or an example with a snippet spliced in."""
    kind = draw(st.sampled_from(["tree", "mutated", "spliced", "figures"]))
    sets: list[str] = []
    if kind == "tree":
        return _dump(draw(TREES)), sets
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    if kind == "figures":  # a real blueprint with its figures pushed anywhere, near the limits too
        for field, values in draw(st.lists(st.sampled_from(FIGURES), min_size=1, max_size=4, unique_by=lambda f: f[0])):
            sets.append(f"{field}={draw(values)}")
        return _dump(doc), sets
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            paths = [p for p in field_paths(doc) if p]
            path = draw(st.sampled_from(paths))
            node = doc
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = draw(TREES)
        if draw(st.booleans()):
            path = draw(st.sampled_from([p for p in field_paths(doc) if p and all(isinstance(x, str) for x in p)]))
            sets.append(".".join(path) + "=" + draw(st.sampled_from(["hunter2", "[1, {a: *b}]", ".inf", "-1", "&a [*a]", "x\ny", "1e999"])))
        return _dump(doc), sets
    lines = _dump(doc).splitlines(keepends=True)
    at = draw(st.integers(0, len(lines)))
    return "".join(lines[:at]) + draw(SNIPPETS) + "".join(lines[at:]), sets


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_documents())
def test_no_document_makes_validate_or_plan_show_a_traceback(case):
    text, sets = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "center.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for command in ("validate", "plan"):
            args = [command, str(path)] + [a for s in sets for a in ("--set", s)]
            start = time.monotonic()
            result = CliRunner().invoke(app, args)
            assert result.exit_code in (0, 2), (result.exit_code, result.output[-3000:], repr(result.exception))
            assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
            assert "Traceback" not in result.output
            assert time.monotonic() - start < WALL_S
            if result.exit_code == 2:
                assert result.stderr.strip(), "a refusal says why"


def test_limits_are_finite_and_documented():
    from trunkline.blueprint import models

    for name in ("MAX_FILE_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_ITEMS", "MAX_TEXT", "MAX_PATH", "MAX_SEATS",
                 "MAX_CALLS_PER_HOUR", "MAX_CHANNELS", "MAX_MEDIA_NODES", "MAX_SITES"):
        assert math.isfinite(getattr(models, name)) and getattr(models, name) > 0
