"""Every error trunkline raises on purpose derives from TrunklineError.

    TrunklineError                 base; cli.py turns it into a message and an exit code
    ├── BlueprintError             the blueprint is invalid: .problems, each FILE:LINE:COL path: what; fix
    ├── PlanError                  a valid blueprint that cannot be laid out (e.g. CIDR too small)
    ├── RenderError                a template failed; the previous output is left as it was
    ├── CheckError                 a real program (kamailio -c, keepalived -t) rejected rendered output
    └── UsageError                 a command line that cannot be acted on (bad --set, missing file)

Only cli.py prints errors and chooses exit codes; library code raises.
"""

from __future__ import annotations

from dataclasses import dataclass


class TrunklineError(Exception):
    """Base of every deliberate trunkline error."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a blueprint, located in its source file."""

    file: str
    line: int  # 1-based; 0 when the place is not a file position (e.g. --set)
    column: int  # 1-based
    path: str  # dotted field path, e.g. spec.trunks[0].transport
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
        }


class BlueprintError(TrunklineError):
    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class PlanError(TrunklineError):
    exit_code = 2


class RenderError(TrunklineError):
    exit_code = 1


class CheckError(TrunklineError):
    exit_code = 1


class UsageError(TrunklineError):
    exit_code = 2
