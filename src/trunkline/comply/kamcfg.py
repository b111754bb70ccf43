"""kamailio.cfg read as Kamailio reads it, and its routing run on model requests.

    cfg = parse_kamailio(text)            preprocessor (#!define, #!ifdef/#!ifndef/#!else/#!endif),
                                          global parameters, loadmodule, modparam, route blocks
    outcomes = run_request(cfg, request)  every path request_route can take for one request

A compliance check then states behaviour, not strings: "a plain-RTP INVITE from a carrier is
answered 488 on every path", "a stranger's INVITE gets no reply on any path". The interpreter
knows the functions trunkline's edge uses (textops, sdpops, siputils, pike, htable, tm, sl,
rtpengine, dispatcher); a condition it cannot decide is explored both ways, so an unknown
function can only add paths, never hide one. It models one request; it is not Kamailio.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

ROUTE_KINDS = ("request_route", "route", "failure_route", "onreply_route", "branch_route", "event_route",
               "reply_route", "onsend_route")
MAX_PATHS = 4096
MAX_DEPTH = 32
REPLY_FUNCTIONS = {"sl_send_reply", "send_reply", "t_reply", "sl_reply", "append_to_reply_and_reply"}
RELAY_FUNCTIONS = {"t_relay", "forward", "t_relay_to", "t_relay_to_udp", "t_relay_to_tcp", "t_relay_to_tls", "t_forward_nonack"}
TRUE_WORDS = {"true": 1, "yes": 1, "on": 1, "enable": 1, "false": 0, "no": 0, "off": 0, "disable": 0}


class KamailioCfgError(ValueError):
    """The file is not a kamailio.cfg this reader understands (it says where)."""


# --- preprocessor and top-level statements ----------------------------------------------------


@dataclass
class Node:
    kind: str  # if | call | assign | exit | drop | return | switch | block | while | break
    line: int
    name: str = ""  # call: function; assign: target pseudo-variable
    args: tuple = ()  # call: argument expressions; assign: (op, expr)
    cond: object = None
    then: tuple = ()
    other: tuple = ()
    cases: tuple = ()  # switch: ((value expr | None, body), ...)


@dataclass
class Config:
    defines: dict[str, str] = field(default_factory=dict)
    globals: dict[str, tuple[str, int]] = field(default_factory=dict)  # last value wins, as in Kamailio
    listens: list[tuple[str, int]] = field(default_factory=list)
    modules: dict[str, int] = field(default_factory=dict)  # module name (no .so) -> line
    modparams: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    routes: dict[tuple[str, str], tuple[Node, ...]] = field(default_factory=dict)
    route_lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def modparam(self, module: str, name: str) -> tuple[str, int] | None:
        values = self.modparams.get((module, name))
        return values[-1] if values else None

    def route(self, name: str, kind: str = "route") -> tuple[Node, ...] | None:
        return self.routes.get((kind, name))


def _strip_comment(line: str) -> str:
    """The line without its # comment (a # inside a string stays)."""
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(line):
                continue
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "#":
            break
        else:
            out.append(ch)
    return "".join(out)


def preprocess(text: str) -> tuple[list[str], dict[str, str]]:
    """Active lines (inactive and comment lines blanked, so line numbers stay) and the defines."""
    defines: dict[str, str] = {}
    stack: list[tuple[bool, bool]] = []  # (this branch active, parent active)
    lines = []
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for raw in text.splitlines():
        s = raw.strip()
        active = all(a for a, _ in stack)
        m = re.match(r"^[#!]!(\w+)\s*(.*)$", s)
        if m:
            word, rest = m.group(1).lower(), m.group(2).strip()
            if word in ("ifdef", "ifndef"):
                name = rest.split()[0] if rest else ""
                stack.append(((name in defines) == (word == "ifdef"), active))
            elif word == "else" and stack:
                branch, parent = stack[-1]
                stack[-1] = (not branch, parent)
            elif word == "endif" and stack:
                stack.pop()
            elif active and word in ("define", "trydef", "redefine"):
                parts = rest.split(None, 1)
                if parts and (word != "trydef" or parts[0] not in defines):
                    defines[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
            elif active and word == "undef" and rest:
                defines.pop(rest.split()[0], None)
            lines.append("")
            continue
        lines.append(_strip_comment(raw) if active else "")
    return lines, defines


_ROUTE_HEAD = re.compile(r"^\s*(%s)\s*(?:\[\s*\"?([\w:.\-]+)\"?\s*\])?\s*\{" % "|".join(ROUTE_KINDS))


def parse_kamailio(text: str) -> Config:
    lines, defines = preprocess(text)
    cfg = Config(defines=defines)
    i = 0
    while i < len(lines):
        line = lines[i]
        head = _ROUTE_HEAD.match(line)
        if head:
            kind, name = head.group(1), head.group(2) or ""
            if kind == "route" and name == "":
                kind = "request_route"  # route { } is the old spelling of request_route
            start = i
            body, i = _block_text(lines, i, head.end() - 1)
            tokens = _tokens(body, defines)
            cfg.routes[(kind, name)] = tuple(_Parser(tokens).block_body())
            cfg.route_lines[(kind, name)] = start + 1
            continue
        s = line.strip()
        n = i + 1
        i += 1
        if not s:
            continue
        m = re.match(r'^loadmodule\s*\(?\s*"([^"]+)"', s)
        if m:
            cfg.modules[re.sub(r"\.so$", "", m.group(1).rsplit("/", 1)[-1])] = n
            continue
        m = re.match(r'^modparam\s*\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*(.*)\)\s*;?\s*$', s)
        if m:
            value = _subst(m.group(3).strip(), defines)
            cfg.modparams.setdefault((m.group(1), m.group(2)), []).append((value.strip('"'), n))
            continue
        m = re.match(r"^([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*;?\s*$", s)
        if m:
            value = _subst(m.group(2), defines)
            if m.group(1) == "listen":
                cfg.listens.append((value, n))
            cfg.globals[m.group(1)] = (value.strip('"'), n)
    return cfg


def _subst(value: str, defines: dict[str, str]) -> str:
    return defines.get(value, value) if re.fullmatch(r"[A-Za-z_]\w*", value) else value


def _block_text(lines: list[str], i: int, col: int) -> tuple[list[tuple[int, str]], int]:
    """The text inside the braces opening at lines[i][col], as (line, text) pieces; the next line index."""
    depth, quote, pieces = 0, None, []
    j, c = i, col
    while j < len(lines):
        text = lines[j]
        start = c
        while c < len(text):
            ch = text[c]
            if quote:
                if ch == "\\":
                    c += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "{":
                depth += 1
                if depth == 1:
                    start = c + 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    pieces.append((j + 1, text[start:c]))
                    return pieces, j + 1
            c += 1
        pieces.append((j + 1, text[start:]))
        j, c = j + 1, 0
    raise KamailioCfgError(f"line {i + 1}: block is not closed")


# --- tokens and the route grammar ---------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
  | (?P<pv>\$\((?:[^()]|\([^()]*\))*\)|\$[A-Za-z_][\w.]*(?:\((?:[^()]|\([^()]*\))*\))?(?:\[[^\]]*\])?)
  | (?P<num>\d+(?:\.\d+)*)
  | (?P<ident>[A-Za-z_][\w.]*)
  | (?P<op>==|!=|=~|!~|<=|>=|&&|\|\||\+=|[-+*/%&|^!<>=(){};,:\[\]])
""", re.X)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    line: int


def _tokens(pieces: list[tuple[int, str]], defines: dict[str, str]) -> list[Tok]:
    out = []
    for line, text in pieces:
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise KamailioCfgError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
            pos = m.end()
            kind = m.lastgroup
            if kind == "ws":
                continue
            value = m.group(kind)
            if kind == "ident" and value in defines and defines[value]:
                sub = defines[value]  # a define used in code: its value, read as tokens
                for sm in _TOKEN.finditer(sub):
                    if sm.lastgroup != "ws":
                        out.append(Tok(sm.lastgroup, sm.group(sm.lastgroup), line))
                continue
            out.append(Tok(kind, value, line))
    return out


@dataclass(frozen=True)
class Expr:
    op: str  # num | str | pv | ident | call | not | neg | and | or | cmp
    value: object = None
    args: tuple = ()


class _Parser:
    def __init__(self, tokens: list[Tok]):
        self.t = tokens
        self.i = 0

    def peek(self, k: int = 0) -> Tok | None:
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self, text: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text):
            where = f"line {tok.line}" if tok else "end of block"
            raise KamailioCfgError(f"{where}: expected {text!r}, found {tok.text if tok else 'nothing'!r}")
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.text == text

    def block_body(self) -> list[Node]:
        out = []
        while self.peek() is not None and not self.at("}"):
            node = self.statement()
            if node is not None:
                out.append(node)
        return out

    def statement(self) -> Node | None:
        tok = self.peek()
        if tok.text == ";":
            self.take()
            return None
        if tok.text == "{":
            self.take()
            body = self.block_body()
            self.take("}")
            return Node("block", tok.line, then=tuple(body))
        if tok.kind == "ident" and tok.text == "if":
            self.take()
            self.take("(")
            cond = self.expr()
            self.take(")")
            then = self._branch()
            other: tuple = ()
            if self.at("else"):
                self.take()
                other = self._branch()
            return Node("if", tok.line, cond=cond, then=then, other=other)
        if tok.kind == "ident" and tok.text == "while":
            self.take()
            self.take("(")
            cond = self.expr()
            self.take(")")
            return Node("while", tok.line, cond=cond, then=self._branch())
        if tok.kind == "ident" and tok.text == "switch":
            return self._switch()
        if tok.kind == "ident" and tok.text in ("exit", "drop", "break"):
            self.take()
            if self.at("("):  # exit(1) / drop()
                self.take()
                while not self.at(")"):
                    self.take()
                self.take(")")
            self._end()
            return Node(tok.text, tok.line)
        if tok.kind == "ident" and tok.text == "return":
            self.take()
            value = None if self.at(";") or self.at("}") else self.expr()
            self._end()
            return Node("return", tok.line, args=(value,))
        if tok.kind == "pv":
            target = self.take().text
            op = self.take().text
            if op not in ("=", ":", "+="):
                raise KamailioCfgError(f"line {tok.line}: expected an assignment to {target}")
            if op == ":":
                self.take("=")
                op = ":="
            value = self.expr()
            self._end()
            return Node("assign", tok.line, name=target, args=(op, value))
        if tok.kind == "ident":
            call = self.primary()
            self._end()
            return Node("call", tok.line, name=call.value, args=call.args)
        raise KamailioCfgError(f"line {tok.line}: unexpected {tok.text!r}")

    def _end(self) -> None:
        if self.at(";"):
            self.take()
        elif not self.at("}"):
            tok = self.peek()
            raise KamailioCfgError(f"line {tok.line if tok else '?'}: expected ';'")

    def _branch(self) -> tuple:
        node = self.statement()
        if node is None:
            return ()
        return node.then if node.kind == "block" else (node,)

    def _switch(self) -> Node:
        tok = self.take()
        self.take("(")
        subject = self.expr()
        self.take(")")
        self.take("{")
        cases: list = []
        while not self.at("}"):
            word = self.take()
            value = None
            if word.text == "case":
                value = self.expr()
            elif word.text != "default":
                raise KamailioCfgError(f"line {word.line}: expected case or default")
            self.take(":")
            body = []
            while not (self.at("case") or self.at("default") or self.at("}")):
                node = self.statement()
                if node is not None:
                    body.append(node)
            cases.append((value, tuple(body)))
        self.take("}")
        return Node("switch", tok.line, cond=subject, cases=tuple(cases))

    # expressions: || < && < ! < comparison < primary
    def expr(self) -> Expr:
        left = self.and_expr()
        while self.at("||"):
            self.take()
            left = Expr("or", args=(left, self.and_expr()))
        return left

    def and_expr(self) -> Expr:
        left = self.unary()
        while self.at("&&"):
            self.take()
            left = Expr("and", args=(left, self.unary()))
        return left

    def unary(self) -> Expr:
        if self.at("!"):
            self.take()
            return Expr("not", args=(self.unary(),))
        left = self.sum()
        tok = self.peek()
        if tok is not None and tok.text in ("==", "!=", "=~", "!~", "<", ">", "<=", ">="):
            self.take()
            return Expr("cmp", tok.text, (left, self.sum()))
        return left

    def sum(self) -> Expr:
        left = self.primary()
        while self.peek() is not None and self.peek().text in ("+", "-", "*", "/", "|", "&"):
            op = self.take().text
            left = Expr("arith", op, (left, self.primary()))
        return left

    def primary(self) -> Expr:
        tok = self.take()
        if tok.text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if tok.text == "-":
            return Expr("neg", args=(self.primary(),))
        if tok.kind == "num":
            return Expr("num", int(tok.text) if tok.text.isdigit() else tok.text)
        if tok.kind == "str":
            return Expr("str", _unquote(tok.text))
        if tok.kind == "pv":
            return Expr("pv", tok.text)
        if tok.kind == "ident":
            if self.at("("):
                self.take()
                args = []
                while not self.at(")"):
                    args.append(self.expr())
                    if self.at(","):
                        self.take()
                self.take(")")
                return Expr("call", tok.text, tuple(args))
            return Expr("ident", tok.text)
        raise KamailioCfgError(f"line {tok.line}: unexpected {tok.text!r} in an expression")


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), body)


# --- model requests and the paths they take -------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One SIP request as it reaches the proxy: enough of it for the routing script's conditions."""

    method: str
    source: str  # $si
    body: str = ""
    content_type: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    to_tag: bool = False
    ruri_user: str | None = "100"
    to_myself: bool = True
    flood: bool = False  # pike_check_req() says this source is over its rate
    proto: str = "udp"  # $proto
    tls_verified: bool = False  # $tls_peer_verified: the peer's certificate was verified

    def header(self, name: str) -> str | None:
        if name.lower() == "content-type" and self.content_type:
            return self.content_type
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def sdp_transports(self) -> list[str]:
        return [m.group(1) for m in re.finditer(r"(?m)^m=\w+ \d+(?:/\d+)? (\S+)", self.body)]


@dataclass(frozen=True)
class Outcome:
    """Where one path through request_route ends, and what it did on the way."""

    replies: tuple[int, ...]
    relayed: bool
    calls: tuple[str, ...]  # functions called, in order
    assigned: tuple[str, ...]  # pseudo-variables written (e.g. $sht(ipban=>$si))
    lines: tuple[int, ...]  # cfg lines of the replies/relays, for findings

    @property
    def silent(self) -> bool:
        return not self.replies and not self.relayed


class _Unknown:
    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()


@dataclass
class _State:
    flags: frozenset = frozenset()
    vars: tuple = ()  # ((name, value), ...)
    replies: tuple = ()
    relayed: bool = False
    calls: tuple = ()
    assigned: tuple = ()
    lines: tuple = ()
    ended: bool = False  # exit/drop
    returned: bool = False  # return from the current route

    def var(self, name: str):
        return dict(self.vars).get(name)

    def set_var(self, name: str, value) -> "_State":
        d = dict(self.vars)
        d[name] = value
        return replace(self, vars=tuple(sorted(d.items(), key=lambda kv: kv[0])), assigned=self.assigned + (name,))


class PathLimit(KamailioCfgError):
    pass


def run_request(cfg: Config, req: Request, presets: dict[str, object] | None = None) -> list[Outcome]:
    """Every way request_route can end for `req` (a condition it cannot decide counts both ways)."""
    main = cfg.routes.get(("request_route", ""))
    if main is None:
        raise KamailioCfgError("no request_route")
    start = _State(vars=tuple(sorted((presets or {}).items())))
    runner = _Runner(cfg, req)
    finals = runner.block(main, [start], 0)
    return [Outcome(s.replies, s.relayed, s.calls, s.assigned, s.lines) for s in finals]


class _Runner:
    def __init__(self, cfg: Config, req: Request):
        self.cfg, self.req = cfg, req
        self.pending = None  # a pseudo-variable a function writes (sdp_transport)

    def block(self, nodes, states: list[_State], depth: int) -> list[_State]:
        for node in nodes:
            nxt = []
            for s in states:
                nxt += [s] if (s.ended or s.returned) else self.node(node, s, depth)
            states = nxt
            if len(states) > MAX_PATHS:
                raise PathLimit(f"more than {MAX_PATHS} paths through the routing script")
        return states

    def node(self, n: Node, s: _State, depth: int) -> list[_State]:
        if n.kind == "block":
            return self.block(n.then, [s], depth)
        if n.kind in ("exit", "drop"):
            return [replace(s, ended=True)]
        if n.kind == "return":
            return [replace(s, returned=True)]
        if n.kind == "break":
            return [s]
        if n.kind == "if":
            out = []
            for value, s2 in self.cond(n.cond, s):
                out += self.block(n.then if value else n.other, [s2], depth)
            return out
        if n.kind == "while":  # one pass or none: enough to see what its body can do
            out = []
            for value, s2 in self.cond(n.cond, s):
                out += self.block(n.then, [s2], depth) if value else [s2]
            return out
        if n.kind == "switch":
            out = []
            for subject, s2 in self.value(n.cond, s):
                matched = False
                for case, body in n.cases:
                    if case is None or subject is UNKNOWN:
                        hit = True if case is None else UNKNOWN
                    else:
                        hit = any(v == subject or v is UNKNOWN for v, _ in self.value(case, s2))
                    if hit is True and not matched:
                        out += self.block(body, [s2], depth)
                        matched = True
                    elif hit is UNKNOWN:
                        out += self.block(body, [s2], depth)
                if not matched and not any(c is None for c, _ in n.cases):
                    out.append(s2)
            return out
        if n.kind == "assign":
            op, expr = n.args
            return [s2.set_var(n.name, v) for v, s2 in self.value(expr, s)]
        if n.kind == "call":
            return [s2 for _, s2 in self.call(n.name, n.args, s, depth, n.line)]
        raise KamailioCfgError(f"line {n.line}: cannot run {n.kind}")

    # conditions: (truth, state) pairs; UNKNOWN splits into both
    def cond(self, e: Expr, s: _State) -> list[tuple[bool, _State]]:
        out = []
        for v, s2 in self.value(e, s):
            if v is UNKNOWN:
                out += [(True, s2), (False, s2)]
            else:
                out.append((_truthy(v), s2))
        return out

    def value(self, e: Expr, s: _State) -> list[tuple[object, _State]]:
        op = e.op
        if op in ("num", "str"):
            return [(e.value, s)]
        if op == "ident":
            return [(TRUE_WORDS.get(e.value.lower(), UNKNOWN), s)]
        if op == "pv":
            return [(self.pv(e.value, s), s)]
        if op == "not":
            return [(not t, s2) for t, s2 in self.cond(e.args[0], s)]
        if op == "neg":
            return [(-v if isinstance(v, int) else UNKNOWN, s2) for v, s2 in self.value(e.args[0], s)]
        if op in ("and", "or"):
            out = []
            for t, s2 in self.cond(e.args[0], s):
                if (op == "and" and not t) or (op == "or" and t):
                    out.append((t, s2))  # short circuit, as Kamailio does
                else:
                    out += self.cond(e.args[1], s2)
            return out
        if op == "cmp" and {a.op + ":" + str(a.value) for a in e.args} == {"ident:uri", "ident:myself"}:
            return [(self.req.to_myself if e.value == "==" else not self.req.to_myself, s)]
        if op == "cmp":
            out = []
            for a, s2 in self.value(e.args[0], s):
                for b, s3 in self.value(e.args[1], s2):
                    out.append((_compare(e.value, a, b), s3))
            return out
        if op == "arith":
            return [(UNKNOWN, s)]
        if op == "call":
            return self.call(e.value, e.args, s, 0, 0)
        return [(UNKNOWN, s)]

    def _args(self, args, s: _State) -> list:
        vals = []
        for a in args:
            v = self.value(a, s)
            vals.append(v[0][0] if len(v) == 1 else UNKNOWN)
        return vals

    def call(self, name: str, args, s: _State, depth: int, line: int) -> list[tuple[object, _State]]:
        req = self.req
        vals = self._args(args, s)
        s = replace(s, calls=s.calls + (name,))
        text = [v if isinstance(v, str) else None for v in vals]
        if name == "route":
            target = vals[0] if vals else None
            target = target if isinstance(target, str) else (args[0].value if args and args[0].op == "ident" else None)
            body = self.cfg.route(target) if target else None
            if body is None:
                raise KamailioCfgError(f"line {line}: route({target}) is called but not defined")
            if depth >= MAX_DEPTH:
                raise KamailioCfgError(f"line {line}: routes nest deeper than {MAX_DEPTH}")
            ends = self.block(body, [replace(s, calls=s.calls + (f"route:{target}",))], depth + 1)
            return [(1, replace(e, returned=False)) for e in ends]
        if name in REPLY_FUNCTIONS or name == "sl_reply_error":
            code = vals[0] if vals and not isinstance(vals[0], _Unknown) else 500
            try:
                code = int(code)
            except (TypeError, ValueError):
                code = 0
            return [(1, replace(s, replies=s.replies + (code,), lines=s.lines + (line,)))]
        if name in RELAY_FUNCTIONS:
            return [(1, replace(s, relayed=True, lines=s.lines + (line,)))]
        if name in ("setflag", "resetflag"):
            flag = vals[0] if vals else None
            flags = set(s.flags)
            (flags.add if name == "setflag" else flags.discard)(flag)
            return [(1, replace(s, flags=frozenset(flags)))]
        if name == "isflagset":
            return [(vals[0] in s.flags if vals and vals[0] is not UNKNOWN else UNKNOWN, s)]
        self.pending = None
        known = self.predicate(name, vals, text, s)
        if self.pending:
            s = s.set_var(*self.pending)
        if known is not None:
            return [(known, s)]
        return [(UNKNOWN, s)]

    def predicate(self, name: str, vals: list, text: list, s: _State):
        req = self.req
        if name == "is_method":
            return req.method.upper() in {m.strip().upper() for m in (text[0] or "").split("|")} if text and text[0] else UNKNOWN
        if name == "has_body":
            if not req.body:
                return False
            return True if not text or not text[0] else text[0].lower() == (req.content_type or "").lower()
        if name == "has_totag":
            return req.to_tag
        if name in ("search_body", "search"):
            haystack = req.body if name == "search_body" else _message(req)
            return _posix_search(text[0], haystack) if text and text[0] is not None else UNKNOWN
        if name in ("is_present_hf",):
            return req.header(text[0]) is not None if text and text[0] else UNKNOWN
        if name == "sdp_with_transport":
            return any(t == text[0] for t in req.sdp_transports()) if req.body and text and text[0] else (False if not req.body else UNKNOWN)
        if name == "sdp_with_transport_like":
            return any(text[0] in t for t in req.sdp_transports()) if req.body and text and text[0] else (False if not req.body else UNKNOWN)
        if name == "sdp_with_media":
            return any(re.match(rf"m={re.escape(text[0])} ", ln) for ln in req.body.splitlines()) if text and text[0] else UNKNOWN
        if name == "sdp_transport":
            # sdpops: the common transport of all m= lines into an AVP (1), -2 when they differ; a
            # parameter that is not an $avp is an error (-1) on every call, whatever the offer
            target = text[0] if text else None
            if not target or not target.startswith("$avp("):
                return -1
            transports = req.sdp_transports()
            if not req.body:
                return -1
            if len({t.upper() for t in transports}) > 1:
                return -2
            if transports:
                self.pending = (target, transports[0])
            return 1
        if name in ("is_ipv4", "is_ipv6", "is_ip"):
            try:
                ip = ipaddress.ip_address(text[0] or "")
            except (TypeError, ValueError, IndexError):
                return UNKNOWN if not text or text[0] is None else False
            return name == "is_ip" or (ip.version == 4) == (name == "is_ipv4")
        if name == "pike_check_req":
            return not req.flood
        if name in ("mf_process_maxfwd_header", "sanity_check", "ds_select_dst", "ds_select_domain", "record_route",
                    "remove_hf", "append_hf", "rtpengine_manage", "rtpengine_offer", "rtpengine_answer", "rtpengine_delete",
                    "xlog", "xinfo", "xnotice", "xwarn", "xerr", "xalert", "xdbg", "t_on_failure", "t_on_reply",
                    "t_on_branch", "t_set_fr", "start_recording", "stop_recording", "force_rport", "setbflag",
                    "set_contact_alias", "add_contact_alias", "handle_ruri_alias", "topoh_mask", "log"):
            return True
        if name in ("t_precheck_trans", "t_check_trans", "t_is_canceled"):
            return False  # a new request: no transaction matches it yet
        if name in ("is_in_subnet",):
            if len(text) == 2 and text[1]:
                addr = text[0] if text[0] else None
                try:
                    return any(ipaddress.ip_address(addr) in ipaddress.ip_network(net.strip(), strict=False) for net in text[1].split(","))
                except (TypeError, ValueError):
                    return UNKNOWN
            return UNKNOWN
        return None

    def pv(self, name: str, s: _State):
        req = self.req
        held = s.var(name)
        if held is not None:
            return held
        t = re.fullmatch(r"\$\((\w+(?:\([^()]*\))?)((?:\{[^{}]*\})+)\)", name)
        if t:  # $(pv{tr}{tr}): the variable through its transformations
            value = self.pv("$" + t.group(1), s)
            for tr in re.findall(r"\{([^{}]*)\}", t.group(2)):
                if value is UNKNOWN or value is None:
                    return value
                if tr == "s.tolower":
                    value = str(value).lower()
                elif tr == "s.toupper":
                    value = str(value).upper()
                else:
                    return UNKNOWN
            return value
        m = re.fullmatch(r"\$(\w+)(?:\((.*)\))?", name)
        if not m:
            return UNKNOWN
        key, arg = m.group(1), m.group(2)
        if key == "null":
            return None
        if key == "si":
            return req.source
        if key == "rm":
            return req.method
        if key == "proto":
            return req.proto
        if key == "tls_peer_verified":
            return 1 if req.tls_verified else 0
        if key == "rb":
            return req.body
        if key == "ua":
            return req.header("User-Agent")
        if key == "rU":
            return req.ruri_user
        if key == "hdr" and arg:
            return req.header(arg)
        if key in ("sht", "avp", "var", "xavp", "shv", "dlg_var"):
            # unset: $null (a $var starts as 0, but compares like $null for these checks)
            return None if key != "var" else 0
        return UNKNOWN


def _message(req: Request) -> str:
    head = "\r\n".join(f"{k}: {v}" for k, v in req.headers)
    return f"{req.method} sip:{req.ruri_user or ''}@proxy SIP/2.0\r\n{head}\r\n\r\n{req.body}"


def _posix_search(pattern: str, text: str) -> bool:
    # textops compiles REG_EXTENDED|REG_ICASE|REG_NEWLINE: ^ and $ match at line ends
    try:
        return re.search(pattern, text, re.I | re.M) is not None
    except re.error:
        return False


def _truthy(v) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v > 0  # Kamailio: a function's negative return is false, 0 ends the script
    if isinstance(v, str):
        return v != ""
    return True


def _compare(op: str, a, b):
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if op in ("=~", "!~"):
        if not isinstance(b, str):
            return UNKNOWN
        hit = a is not None and re.search(b, str(a), re.I) is not None
        return hit if op == "=~" else not hit
    if op in ("==", "!="):
        if isinstance(a, int) and isinstance(b, str) and b.isdigit():
            b = int(b)
        if isinstance(b, int) and isinstance(a, str) and a.isdigit():
            a = int(a)
        same = a == b
        return same if op == "==" else not same
    try:
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except TypeError:
        return UNKNOWN
