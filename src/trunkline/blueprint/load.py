"""Read a blueprint from YAML layers, keeping the file position of every value.

Precedence, lowest first (this is the one place it is defined):

  1. the base file named on the command line (several files: left to right);
  2. `<base>.local.yaml` beside each base file, if present (site-local overrides kept out of git);
  3. each `--set path=value`, left to right (value parsed as YAML: `--set spec.forecast.shrinkage=0.3`).

Mappings merge key by key. Lists of named items (seats by `pool`; sites, trunks, ivr, queues by
`name`) merge item by item, so a layer can change one trunk without repeating the others; any
other list is replaced whole.

Reading is bounded (limits in models.py): a file over MAX_FILE_BYTES is refused before it is read,
and a document whose values, aliases expanded, pass MAX_NODES or whose nesting passes MAX_DEPTH is
refused while it is composed, so an alias bomb costs what its few lines cost.
"""

from __future__ import annotations

import difflib
import io
import re
import unicodedata
from pathlib import Path
from typing import Any, Callable, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from trunkline.blueprint.models import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, SECRET, Blueprint, Loc, cross_check, show
from trunkline.errors import BlueprintError, Problem, UsageError

MERGE_KEYS = ("name", "pool")
SECRET_FIELDS = ("secret", "key", "password")  # by name, besides every field typed SecretRef
_SET_RE = re.compile(r"^([A-Za-z_][\w]*(?:(?:\.[A-Za-z_][\w-]*)|(?:\[\d+\]))*)=(.*)$", re.S)


class Positions:
    """Where each value came from: loc tuple -> (file, line, column), 1-based."""

    def __init__(self) -> None:
        self.by_loc: dict[Loc, tuple[str, int, int]] = {}

    def record(self, node: Any, file: str, loc: Loc = ()) -> None:
        if isinstance(node, CommentedMap):
            for key in node:
                if key in node.lc.data:  # a key merged in with '<<' has no place here: its parent's is used
                    line, col = node.lc.key(key)
                    self.by_loc[loc + (key,)] = (file, line + 1, col + 1)
                self.record(node[key], file, loc + (key,))
        elif isinstance(node, CommentedSeq):
            for i, item in enumerate(node):
                line, col = node.lc.item(i)
                self.by_loc[loc + (i,)] = (file, line + 1, col + 1)
                self.record(item, file, loc + (i,))

    def find(self, loc: Loc, default_file: str) -> tuple[str, int, int]:
        """The position of loc, or of its nearest located parent."""
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.by_loc:
                return self.by_loc[loc[:n]]
        return (default_file, 1, 1)


class _TooBig(MarkedYAMLError):
    """A document over the node or depth limit (located at the node that passed it)."""


class _Tagged(MarkedYAMLError):
    """A node with a tag that is not plain data (!!python/object:..., !!binary, !custom)."""


# what plain YAML resolves to; any other tag asks the reader to build something else
PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp"))


class _BoundedComposer(Composer):
    """ruamel's composer, counting what each node expands to: its values, with an alias counting
    its anchor's values each time it is used, and its height. Composing stays linear in the text,
    so a 'billion laughs' document is refused after reading its few lines."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._done: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height), once composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._done:
                raise _TooBig(None, None, f"alias *{event.anchor} is used inside its own anchor", event.start_mark)
        node = super().compose_node(parent, index)
        if node.tag not in PLAIN_TAGS:
            raise _Tagged(None, None, f"the tag {str(node.tag)[:60]!r} is not plain data", node.start_mark)
        if id(node) not in self._done:
            if isinstance(node, MappingNode):
                kids = [self._done[id(n)] for pair in node.value for n in pair]
            elif isinstance(node, SequenceNode):
                kids = [self._done[id(n)] for n in node.value]
            else:
                kids = []
            size, height = 1 + sum(k[0] for k in kids), 1 + max((k[1] for k in kids), default=0)
            if size > MAX_NODES:
                raise _TooBig(None, None, f"the document expands to more than {MAX_NODES:,} values (an alias counts "
                              "its anchor's values each time it is used)", node.start_mark)
            if height > MAX_DEPTH:
                raise _TooBig(None, None, f"the document nests deeper than {MAX_DEPTH} levels", node.start_mark)
            self._done[id(node)] = (size, height)
        return node


def bounded_yaml(typ: str = "rt") -> YAML:
    """A YAML reader that refuses alias bombs and deep nesting (pure Python, so the composer is ours)."""
    yaml = YAML(typ=typ, pure=True)
    yaml.Composer = _BoundedComposer
    yaml.max_depth = MAX_DEPTH + 1  # ruamel stops nesting before Python's recursion limit; ours says why
    return yaml


def _yaml_problem(exc: Exception, text: str) -> tuple[int, int, str, str]:
    """(line, column, what, fix) for an exception raised while reading YAML."""
    if isinstance(exc, (_TooBig, MaxDepthExceededError)):
        mark = exc.problem_mark
        what = exc.problem if isinstance(exc, _TooBig) else f"the document nests deeper than {MAX_DEPTH} levels"
        return mark.line + 1, mark.column + 1, what, "a blueprint needs a few hundred values and 7 levels; remove the rest"
    if isinstance(exc, _Tagged):
        return exc.problem_mark.line + 1, exc.problem_mark.column + 1, exc.problem, "remove the tag: write plain strings, numbers, lists and mappings"
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return line, col, f"YAML syntax: {exc.problem or exc.context or 'invalid YAML'}", "fix the indentation or quoting at this spot"
    if isinstance(exc, YAMLError):  # e.g. a control character the YAML reader refuses
        line = text.count("\n", 0, getattr(exc, "position", 0) or 0) + 1
        return line, 1, f"not readable as YAML: {exc}".splitlines()[0][:200], "remove control characters; save as plain UTF-8 text"
    # a value the constructor cannot hold (an integer of thousands of digits, a bad timestamp, ...)
    return 1, 1, f"not readable as YAML: a value cannot be read ({type(exc).__name__})", "write plain numbers, strings, lists and mappings"


def _read_text(path: Path) -> str:
    """The file's text, refused unread when it is larger than MAX_FILE_BYTES (at most that much is read)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such blueprint file; check the path") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc}); name a blueprint file") from None
    if len(data) > MAX_FILE_BYTES:
        raise BlueprintError([Problem(str(path), 1, 1, "", f"the file is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a blueprint",
                                      "a blueprint takes a few KB; is this the right file?")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BlueprintError([Problem(str(path), 1, 1, "", f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")]) from None


def _read_yaml(path: Path) -> tuple[Any, str]:
    text = _read_text(path)
    try:
        data = bounded_yaml().load(io.StringIO(text))
    except (YAMLError, ValueError, TypeError, OverflowError, RecursionError, KeyError, AttributeError) as exc:
        line, col, what, fix = _yaml_problem(exc, text)
        raise BlueprintError([Problem(str(path), line, col, "", what, fix)]) from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise BlueprintError([Problem(str(path), 1, 1, "", "the document is not a mapping", "start with apiVersion: trunkline/v1 and kind: Center")])
    return data, str(path)


def _merge_key(items: list) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        if all(isinstance(i.get(key), str) for i in items):
            return key
    return None


def _merge(base: Any, over: Any, pos: Positions, over_pos: Positions, loc: Loc) -> Any:
    """Merge `over` onto `base` (plain data), carrying positions from the overriding layer."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value, pos, over_pos, loc + (key,)) if key in base else _adopt(value, pos, over_pos, loc + (key,))
            _copy_pos(pos, over_pos, loc + (key,), loc + (key,))
        return out
    if isinstance(base, list) and isinstance(over, list):
        key = _merge_key(base) and _merge_key(over)
        if key:
            out = list(base)
            index = {item[key]: i for i, item in enumerate(base)}
            for j, item in enumerate(over):
                if item[key] in index:
                    i = index[item[key]]
                    out[i] = _merge(base[i], item, pos, _shift(over_pos, loc + (j,), loc + (i,)), loc + (i,))
                else:
                    out.append(item)
                    _move(pos, over_pos, loc + (j,), loc + (len(out) - 1,))
            return out
    return _adopt(over, pos, over_pos, loc)


def _adopt(value: Any, pos: Positions, over_pos: Positions, loc: Loc) -> Any:
    """Take the overriding value whole: forget old positions below loc, copy the new ones."""
    for k in [k for k in pos.by_loc if k[: len(loc)] == loc and len(k) > len(loc)]:
        del pos.by_loc[k]
    _move(pos, over_pos, loc, loc)
    return value


def _move(pos: Positions, over_pos: Positions, src: Loc, dst: Loc) -> None:
    for k, v in over_pos.by_loc.items():
        if k[: len(src)] == src:
            pos.by_loc[dst + k[len(src):]] = v


def _copy_pos(pos: Positions, over_pos: Positions, src: Loc, dst: Loc) -> None:
    if src in over_pos.by_loc:
        pos.by_loc[dst] = over_pos.by_loc[src]


def _shift(over_pos: Positions, src: Loc, dst: Loc) -> Positions:
    shifted = Positions()
    for k, v in over_pos.by_loc.items():
        shifted.by_loc[(dst + k[len(src):]) if k[: len(src)] == src else k] = v
    return shifted


def plain_data(node: Any) -> Any:
    """ruamel's commented maps and lists as plain dicts and lists."""
    if isinstance(node, dict):
        return {str(k): plain_data(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain_data(v) for v in node]
    return node


def parse_set(expr: str) -> tuple[Loc, Any]:
    """'spec.trunks[0].channels=120' -> (('spec','trunks',0,'channels'), 120).

    Messages name the path, never the value: the value may be a secret typed by mistake."""
    m = _SET_RE.match(expr)
    if not m:
        path = re.match(r"[\w.\[\]-]*", expr).group(0)[:80]
        raise UsageError(f"--set {path!r}: write PATH=VALUE, e.g. --set spec.forecast.shrinkage=0.3")
    loc: list[Any] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", m.group(1)):
        loc.append(int(part[1:-1]) if part.startswith("[") else part)
    if len(loc) > MAX_DEPTH:
        raise UsageError(f"--set {m.group(1)[:80]}: the path is deeper than {MAX_DEPTH} levels; name a blueprint field")
    try:
        value = plain_data(bounded_yaml().load(m.group(2))) if m.group(2).strip() else ""
    except (YAMLError, ValueError, TypeError, OverflowError, RecursionError, KeyError, AttributeError) as exc:
        # no detail from the YAML reader: it quotes the text, which may be a secret typed by mistake
        raise UsageError(f"--set {m.group(1)}: the value is not valid YAML ({type(exc).__name__}); quote it or write valid YAML") from None
    return tuple(loc), value


def _apply_set(data: dict, loc: Loc, value: Any) -> None:
    node: Any = data
    for i, part in enumerate(loc[:-1]):
        nxt = loc[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise UsageError(f"--set {dotted(loc)}: {dotted(loc[: i + 1])} does not exist")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise UsageError(f"--set {dotted(loc)}: {dotted(loc[:i])} is not a mapping")
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    last = loc[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last > len(node):
            raise UsageError(f"--set {dotted(loc)}: {dotted(loc)} does not exist")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        if not isinstance(node, dict):
            raise UsageError(f"--set {dotted(loc)}: {dotted(loc[:-1])} is not a mapping")
        node[last] = value


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_*#-]{1,64}")


def dotted(loc: Loc) -> str:
    """('spec', 'trunks', 0) -> spec.trunks[0]; a key that is not plain is quoted (escaped, cut).
    The one field-path format of trunkline's messages (blueprint, price book, compliance places)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            name = part if _PLAIN_KEY.fullmatch(part) else show(part)
            out += f".{name}" if out else name
    return out


def layer_files(paths: list[Path]) -> list[Path]:
    """The files read, in precedence order (lowest first)."""
    out: list[Path] = []
    for p in paths:
        out.append(p)
        local = p.with_name(p.name.removesuffix(".yaml").removesuffix(".yml") + ".local.yaml")
        if local.exists() and local != p:
            out.append(local)
    return out


def load_layers(paths: list[Path], sets: list[str] = ()) -> tuple[dict, Positions, str]:
    """Merge the layers into plain data with positions; the first file names the blueprint."""
    if not paths:
        raise UsageError("name at least one blueprint file")
    for p in paths:  # the name is written into every file's managed-by header
        if any(unicodedata.category(c)[0] == "C" for c in str(p)):
            raise UsageError(f"{show(str(p))}: the file name has control characters; rename the file")
    data: dict = {}
    pos = Positions()
    for path in layer_files([Path(p) for p in paths]):
        raw, file = _read_yaml(path)
        layer_pos = Positions()
        layer_pos.record(raw, file)
        data = _merge(data, plain_data(raw), pos, layer_pos, ())
    for expr in sets:
        loc, value = parse_set(expr)
        _apply_set(data, loc, value)
        for k in [k for k in pos.by_loc if k[: len(loc)] == loc]:
            del pos.by_loc[k]
        pos.by_loc[loc] = (f"--set {dotted(loc)}", 0, 0)  # the path only: the value may be a secret
    return data, pos, str(paths[0])


# --- turning pydantic errors into problems a person can act on --------------------------------
# One translator for every document trunkline validates with pydantic (the blueprint here, the
# price book in cost.py): the same field paths and wording; a document adds its own (message, fix)
# for the errors it knows better through `special`.

Special = Callable[[dict, Loc], "tuple[str, str] | None"]


def _model_at(loc: Loc, root: type[BaseModel] = Blueprint) -> type[BaseModel] | None:
    """The model class that holds the mapping at loc (for 'did you mean')."""
    ann: Any = root
    for part in loc:
        ann = _unwrap(ann)
        if isinstance(part, int):
            args = get_args(ann)
            ann = args[0] if args else None
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part) or next((f for f in ann.model_fields.values() if f.alias == part), None)
            ann = field.annotation if field else None
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        else:
            return None
    ann = _unwrap(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _unwrap(ann: Any) -> Any:
    """Strip Optional/Annotated/Union down to the model or container inside."""
    while True:
        origin = get_origin(ann)
        if origin is None:
            return ann
        if origin in (list, dict):
            return ann
        args = [a for a in get_args(ann) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        containers = [a for a in args if get_origin(a) in (list, dict)]
        picked = (models or containers or args[:1] or [None])[0]
        if picked is ann:
            return ann
        ann = picked


def _secret_at(loc: Loc) -> bool:
    """Whether the field at loc holds a secret reference: typed SecretRef (marked), or named like a secret."""
    if not loc or not isinstance(loc[-1], str):
        return False
    if loc[-1] in SECRET_FIELDS:
        return True
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    return field is not None and (SECRET in field.metadata or _marked(field.annotation))


def _marked(ann: Any) -> bool:
    return any(a is SECRET or _marked(a) for a in get_args(ann))


def _secret_problem(err: dict, loc: Loc) -> tuple[str, str] | None:
    """The blueprint's own wording for a secret reference: never echo the value (it may be a secret)."""
    if not _secret_at(loc):
        return None
    kind, msg = err["type"], err["msg"]
    if kind == "value_error":  # the rule only: a validator's message never quotes a secret, but say so here
        msg, _, fix = str(err.get("ctx", {}).get("error", msg)).partition("; ")
        return msg, fix
    msg = {"string_type": "a secret reference is text", "string_too_long": "the reference is too long",
           "string_too_short": "is empty"}.get(kind, "is not a secret reference")
    return msg, "reference the secret: env:NAME, file:/path/to/secret or vault:path#key"


def problems_from(exc: ValidationError, pos: Positions, source: str, root: type[BaseModel] = Blueprint,
                  special: Special | None = None) -> list[Problem]:
    """Every error of a pydantic validation of `root` as a Problem (file, line, column, field path,
    what is wrong, fix), one per place (pydantic reports a union that fails once per member)."""
    unique: dict[tuple, Problem] = {}
    for err in exc.errors(include_url=False):
        p = _problem_from_error(err, pos, source, root, special)
        unique.setdefault((p.file, p.line, p.column, p.path), p)
    return list(unique.values())


def _problem_from_error(err: dict, pos: Positions, default_file: str, root: type[BaseModel], special: Special | None) -> Problem:
    # pydantic appends the union member it tried (e.g. 'int', "literal['auto']"); drop those
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p in ("int", "float", "str", "bool", "[key]") or p.startswith(("literal[", "function-", "constrained-")))))
    file, line, col = pos.find(loc, default_file)
    own = special(err, loc) if special else None
    if own is not None:
        return Problem(file, line, col, dotted(loc), *own)
    kind = err["type"]
    msg = err["msg"]
    given = err.get("input")
    fix = ""
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1], root)
        names = sorted((f.alias or n) for n, f in model.model_fields.items() if not f.exclude) if model else []
        key = str(loc[-1])
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6) if len(key) <= 64 else []
        msg = f"unknown key {show(key)}"
        fix = f"did you mean {close[0]!r}?" if close else (f"allowed keys: {', '.join(names)}" if names else "remove it")
    elif kind == "missing":
        msg = "is required"
        fix = f"add {loc[-1]}:" if loc else "add it"
    elif kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"{show(given)} is not one of {expected.replace(' or ', ', ')}"
        fix = "use one of the values listed"
    elif kind == "value_error":
        text = str(err.get("ctx", {}).get("error", msg))
        msg, _, fix = text.partition("; ")
    elif kind == "string_pattern_mismatch":
        msg = f"{show(given)} is not a valid name"
        fix = "use lower-case letters, digits and '-', starting and ending with a letter or digit"
    elif kind in ("int_parsing", "float_parsing", "int_type", "float_type", "int_from_float", "int_parsing_size", "finite_number"):
        msg = f"{show(given)} is not a number" if kind != "finite_number" else f"{show(given)} is not a finite number"
        fix = "write a number" + (" or auto" if loc and loc[-1] in ("count", "channels", "nodes") else "")
    elif kind.startswith(("greater_than", "less_than")):
        msg = f"{show(given)} {msg.lower()}"
        fix = "change the value to fit that range"
    elif kind == "string_too_long":
        msg = f"{show(given)} is longer than {err.get('ctx', {}).get('max_length')} characters"
        fix = "shorten it"
    elif kind == "too_long":
        msg = f"has more than {err.get('ctx', {}).get('max_length')} items"
        fix = "remove some, or split the center"
    elif kind in ("too_short", "string_too_short"):
        msg = "is empty"
        fix = "give at least one item" if kind == "too_short" else "write a value"
    elif kind in ("model_type", "dict_type"):
        msg = f"expected a mapping of keys, got {type(given).__name__}"
        fix = "write key: value pairs under it"
    elif kind == "list_type":
        msg = f"expected a list, got {type(given).__name__}"
        fix = "write it as [a, b] or as lines starting with '- '"
    elif kind == "bool_parsing":
        msg = f"{show(given)} is not true or false"
        fix = "write true or false"
    if kind not in ("extra_forbidden", "missing") and given is not None and not isinstance(given, (dict, list)) and show(given) not in msg and kind != "value_error":
        msg = f"{show(given)}: {msg}"
    return Problem(file, line, col, dotted(loc), msg, fix)


def validate_data(data: dict, pos: Positions | None = None, source: str = "<data>") -> Blueprint:
    """Validate merged data; raise BlueprintError with every problem found."""
    pos = pos or Positions()
    try:
        center = Blueprint.model_validate(data)
    except ValidationError as exc:
        raise BlueprintError(problems_from(exc, pos, source, special=_secret_problem)) from None
    problems = []
    for loc, msg, fix in cross_check(center):
        file, line, col = pos.find(loc, source)
        problems.append(Problem(file, line, col, dotted(loc), msg, fix))
    if problems:
        raise BlueprintError(problems)
    return center


def load_blueprint(paths: list[Path] | Path | str, sets: list[str] = ()) -> Blueprint:
    if isinstance(paths, (str, Path)):
        paths = [Path(paths)]
    data, pos, source = load_layers(list(paths), list(sets))
    return validate_data(data, pos, source)
