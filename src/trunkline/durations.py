"""Time spans: the one parser for every way trunkline reads a duration, and the syntax of each.

    BLUEPRINT  '240s', '4m', '5y'         blueprint fields and pack parameters: one term, a unit always
    SYSTEMD    '180d', '6month', '1y 2w'  systemd.time(7) spans (journald, sshd ChannelTimeout);
                                          a bare number is seconds
    TMPFILES   '30d', '1w2d'              tmpfiles.d(5) Age: whole numbers, a bare number is seconds

`parse_span(text, syntax)` gives the seconds (rounded) or raises ValueError; `format_span(seconds)`
writes the largest blueprint unit that divides it exactly ('5y', '90s'). Words a format gives a
meaning of its own (systemd's 'infinity', tmpfiles' '-') are for its reader to handle first; so
are the messages each reader words for its own users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Syntax:
    name: str  # what a refusal calls the text
    units: dict[str, float]  # unit -> seconds, in the order a one-term pattern lists them
    number: str = r"\d+(?:\.\d+)?"
    bare: bool = False  # a number without a unit counts seconds
    one_term: bool = False  # refuse '1y 2w'

    @cached_property
    def pattern(self) -> str:
        """A one-term text as a regular expression (groups: number, unit), as the JSON Schema gives it."""
        return rf"^\s*({self.number})\s*({'|'.join(self.units)}){'?' if self.bare else ''}\s*$"

    @cached_property
    def term(self) -> re.Pattern:
        # units longest first ('min' before 'm'); a unit runs to the end of the word ('5mins' is refused)
        units = "|".join(sorted(self.units, key=len, reverse=True))
        return re.compile(rf"\s*({self.number})\s*({units})?(?![A-Za-z])")


def parse_span(text: str, syntax: Syntax) -> int:
    """The seconds `text` stands for in `syntax`: the sum of its number-unit terms (read one term
    after the other, so the time is linear in the text whatever it holds)."""
    text, pos, total, terms = text.strip(), 0, 0.0, 0
    while pos < len(text):
        m = syntax.term.match(text, pos)
        if not m or not (m.group(2) or syntax.bare) or (syntax.one_term and terms):
            raise ValueError(f"{text!r} is not a {syntax.name}")
        total += float(m.group(1)) * (syntax.units[m.group(2)] if m.group(2) else 1)
        pos, terms = m.end(), terms + 1
    if not terms:
        raise ValueError(f"{text!r} is not a {syntax.name}")
    return round(total)


def format_span(seconds: int) -> str:
    """240 -> '4m', 157680000 -> '5y': the largest blueprint unit that divides the seconds, else seconds."""
    for unit, size in sorted(BLUEPRINT.units.items(), key=lambda kv: -kv[1]):
        if size > 1 and seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


BLUEPRINT = Syntax("duration", {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400},
                   number=r"\d{1,9}(?:\.\d{1,6})?", one_term=True)
SYSTEMD = Syntax("systemd time span", {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2629800, "month": 2629800, "months": 2629800, "y": 31557600, "year": 31557600, "years": 31557600,
}, bare=True)
TMPFILES = Syntax("tmpfiles age", {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400,
                                   "w": 7 * 86400}, number=r"\d+", bare=True)
