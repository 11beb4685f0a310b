"""Constraints between flags: conditions such as ``tp-size * dp-size <= gpus`` that every
configuration a case measures must satisfy (the case's ``constraints:`` list).

An expression is parsed by Python's :mod:`ast` and compiled, node by node from a short list of
allowed node types, into closures; nothing is ever handed to ``eval``. The grammar:

- numbers (``2048``, ``0.8``, ``1e-3``), quoted strings (``'fcfs'``), ``true``/``false``;
- names: the case's flags as its ``parameters`` and ``flags`` write them, by their canonical
  SGLang name, or with underscores (``tp-size``, ``tp_size``), and ``gpus``;
- arithmetic on numbers ``+ - * / // %`` and unary ``-``/``+``;
- comparisons ``== != < <= > >=`` (chainable: ``1 <= tp-size <= gpus``), ``in`` and
  ``not in`` with a list literal (``schedule-policy in ['lpm', 'dfs-weight']``);
- ``and``, ``or``, ``not`` and parentheses.

A name may contain dashes: ``tp-size`` is one name, never ``tp - size``. A dashed word that is
not a name of the case is an error, so a subtraction between two names needs spaces around its
``-`` (``gpus - tp-size``). Every expression is checked when the case is loaded: the names it
uses, the types it combines (arithmetic takes numbers, ``<`` compares two numbers or two
strings, ``and`` takes conditions) and that it is a condition at all.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .space import Space

#: the name a constraint uses for the GPUs the run has (its pool)
GPUS = "gpus"
#: the longest expression accepted (deep nesting stays far from Python's recursion limit)
MAX_LENGTH = 1000

Kind = Literal["number", "str", "bool"]
Value = int | float | str | bool
Env = Mapping[str, Value]
Evaluator = Callable[[Env], Value]
#: a name as written → (the variable it reads, its kind); raises ConstraintError when unknown
Resolver = Callable[[str], tuple[str, Kind]]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[A-Za-z_]*")
DIGITS = "0123456789"
_BOOLS = {"true": True, "false": False, "True": True, "False": False}
_ARITHMETIC: dict[type[ast.operator], tuple[str, Callable[[float, float], float]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.Div: ("/", lambda a, b: a / b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}
_ORDER: dict[type[ast.cmpop], tuple[str, Callable[[Value, Value], bool]]] = {
    ast.Eq: ("==", lambda a, b: a == b),
    ast.NotEq: ("!=", lambda a, b: a != b),
    ast.Lt: ("<", lambda a, b: a < b),  # type: ignore[operator]
    ast.LtE: ("<=", lambda a, b: a <= b),  # type: ignore[operator]
    ast.Gt: (">", lambda a, b: a > b),  # type: ignore[operator]
    ast.GtE: (">=", lambda a, b: a >= b),  # type: ignore[operator]
}
#: what a person reads for node types the grammar leaves out
_FORBIDDEN = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access (.) is not allowed",
    ast.Subscript: "indexing ([...]) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "'x if c else y' is not allowed (write the condition with and/or)",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Dict: "a mapping ({...}) is not allowed",
    ast.Set: "a set ({...}) is not allowed: use a list [...] after 'in'",
    ast.Starred: "'*' unpacking is not allowed",
    ast.NamedExpr: "':=' is not allowed",
}
_HINTS = {"≤": "<=", "≥": ">=", "≠": "!=", "&&": "and", "||": "or", "×": "*", "÷": "/"}


class ConstraintError(ValueError):
    """A constraint that cannot be parsed, names what the case lacks, or cannot be evaluated
    for one configuration (division by zero)."""

    def __init__(self, message: str, *, column: int | None = None,
                 index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: 1-based position in the expression, where one is known
        self.column = column
        #: which of the case's constraints (its position in the list), where one is known
        self.index = index

    def __str__(self) -> str:
        return self.message


def _shape(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The text with the dashes of dashed names replaced by underscores (same length, so every
    position stays where it was), and the spans of the dashed names. Strings and numbers are
    skipped: ``'flash-infer'`` and ``1e-3`` keep their dashes."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < len(text) and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if ch in DIGITS or (ch == "." and text[i + 1:i + 2] in tuple(DIGITS)):
            number = _NUMBER.match(text, i)
            assert number is not None
            out.append(number.group())
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name is not None:
            word = name.group()
            if "-" in word:
                spans.append((i, name.end()))
                word = word.replace("-", "_")
            out.append(word)
            i = name.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out), spans


def _column(line: str, byte_offset: int) -> int:
    """ast's column (a UTF-8 byte offset) as a 1-based character position."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore")) + 1


def _parse(shaped: str, text: str) -> ast.Expression:
    """``shaped`` parsed; messages quote ``text``, the expression as written."""
    if len(text) > MAX_LENGTH:
        raise ConstraintError(f"a constraint is at most {MAX_LENGTH} characters long")
    try:
        return ast.parse(shaped, mode="eval")
    except SyntaxError as exc:
        column = exc.offset if exc.offset and exc.offset <= len(text) else None
        hint = next((f" (write {good!r} for {bad!r})" for bad, good in _HINTS.items()
                     if bad in text), "")
        message = (exc.msg or "invalid syntax").rstrip(".")
        where = f" at column {column}" if column else " at its end"
        rest = f" (at {text[column - 1:]!r})" if column else ""
        raise ConstraintError(f"cannot parse {text!r}{where}: {message}{rest}{hint}",
                              column=column) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        raise ConstraintError(f"cannot parse {text!r}: {exc}") from None


@dataclass(frozen=True)
class _Compiled:
    run: Evaluator
    kind: Kind


class _Compiler:
    """AST → closures, with each node's kind checked; only the node types listed here pass."""

    def __init__(self, text: str, resolve: Resolver) -> None:
        self.text = text
        self.resolve = resolve
        self.names: dict[str, str] = {}  # variable → the spelling first used

    def fail(self, node: ast.AST, message: str) -> ConstraintError:
        col = getattr(node, "col_offset", None)
        column = _column(self.text, col) if col is not None else None
        where = f" (column {column})" if column is not None else ""
        return ConstraintError(f"{message}{where}", column=column)

    def source(self, node: ast.AST) -> str:
        """The node as the case writes it (the original text: dashes in names)."""
        return ast.get_source_segment(self.text, node) or ast.unparse(node)

    def compile(self, node: ast.AST) -> _Compiled:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            raise self.fail(node, "a list may only follow 'in' or 'not in'")
        reason = next((m for t, m in _FORBIDDEN.items() if isinstance(node, t)), None)
        if reason is not None:
            raise self.fail(node, f"{reason}: {self.source(node)}")
        raise self.fail(node, f"{type(node).__name__} is not allowed in a constraint "
                        "(numbers, strings, names, + - * / // %, comparisons, in [...], "
                        "and/or/not)")

    def constant(self, node: ast.Constant) -> _Compiled:
        value = node.value
        kind: Kind
        if isinstance(value, bool):
            kind = "bool"
        elif isinstance(value, (int, float)):
            kind = "number"
        elif isinstance(value, str):
            kind = "str"
        else:
            raise self.fail(node, f"{self.source(node)} is not a number, a string or a boolean")
        return _Compiled(lambda env: value, kind)

    def name(self, node: ast.Name) -> _Compiled:
        if node.id in _BOOLS:
            flag = _BOOLS[node.id]
            return _Compiled(lambda env: flag, "bool")
        try:
            variable, kind = self.resolve(node.id)
        except ConstraintError as exc:
            raise ConstraintError(exc.message, column=_column(self.text, node.col_offset)) \
                from None
        self.names.setdefault(variable, node.id)
        return _Compiled(lambda env: env[variable], kind)

    def unary(self, node: ast.UnaryOp) -> _Compiled:
        operand = self.compile(node.operand)
        run = operand.run
        if isinstance(node.op, ast.Not):
            self.expect(node.operand, operand, "bool", "'not' takes a condition")
            return _Compiled(lambda env: not run(env), "bool")
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self.expect(node.operand, operand, "number", "a sign takes a number")
            if isinstance(node.op, ast.USub):
                return _Compiled(lambda env: -run(env), "number")  # type: ignore[operator]
            return operand
        raise self.fail(node, "'~' is not allowed")

    def binary(self, node: ast.BinOp) -> _Compiled:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            symbol = {ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
                      ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}.get(type(node.op),
                                                                             "this operator")
            extra = " (write and/or)" if symbol in ("&", "|") else ""
            raise self.fail(node, f"{symbol} is not allowed: arithmetic is + - * / // %{extra}")
        symbol, fn = op
        left, right = self.compile(node.left), self.compile(node.right)
        for side, compiled in ((node.left, left), (node.right, right)):
            self.expect(side, compiled, "number", f"{symbol} takes numbers")
        lrun, rrun = left.run, right.run
        text = self.source(node)

        def run(env: Env) -> Value:
            try:
                return fn(lrun(env), rrun(env))  # type: ignore[arg-type]
            except (ArithmeticError, ValueError) as exc:  # x / 0, int too large for a float
                raise ConstraintError(f"{text}: {exc}") from None

        return _Compiled(run, "number")

    def boolean(self, node: ast.BoolOp) -> _Compiled:
        word = "and" if isinstance(node.op, ast.And) else "or"
        parts = [self.compile(v) for v in node.values]
        for value, compiled in zip(node.values, parts, strict=True):
            self.expect(value, compiled, "bool", f"'{word}' joins conditions")
        runs = tuple(p.run for p in parts)
        if word == "and":
            return _Compiled(lambda env: all(r(env) for r in runs), "bool")
        return _Compiled(lambda env: any(r(env) for r in runs), "bool")

    def compare(self, node: ast.Compare) -> _Compiled:
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if len(node.ops) > 1:
                raise self.fail(node, "'in' compares one value with one list: join several "
                                "comparisons with and")
            return self.membership(node)
        left_node: ast.expr = node.left
        left = self.compile(left_node)
        head = left.run
        steps: list[Callable[[Env, Value], tuple[bool, Value]]] = []
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            order = _ORDER.get(type(op))
            if order is None:
                raise self.fail(node, "'is' is not allowed: compare with == or !=")
            symbol, fn = order
            right = self.compile(right_node)
            if left.kind != right.kind:
                raise self.fail(node, f"{symbol} compares {_a(left.kind)} "
                                f"({self.source(left_node)}) with {_a(right.kind)} "
                                f"({self.source(right_node)})")
            if symbol not in ("==", "!=") and left.kind == "bool":
                raise self.fail(node, f"{symbol} does not order true and false: use == or !=")
            steps.append(_pair(fn, right.run))
            left_node, left = right_node, right

        def run(env: Env) -> Value:
            value = head(env)
            for step in steps:
                ok, value = step(env, value)
                if not ok:
                    return False
            return True

        return _Compiled(run, "bool")

    def membership(self, node: ast.Compare) -> _Compiled:
        word = "in" if isinstance(node.ops[0], ast.In) else "not in"
        right_node = node.comparators[0]
        if not isinstance(right_node, (ast.List, ast.Tuple)):
            raise self.fail(right_node, f"'{word}' takes a list literal, such as "
                            f"[1, 2]")
        left = self.compile(node.left)
        items = [self.compile(e) for e in right_node.elts]
        for element, compiled in zip(right_node.elts, items, strict=True):
            if compiled.kind != left.kind:
                raise self.fail(element, f"'{word}' looks for {_a(left.kind)} "
                                f"({self.source(node.left)}) among values, and "
                                f"{self.source(element)} is {_a(compiled.kind)}")
        head = left.run
        runs = tuple(i.run for i in items)
        negate = word == "not in"

        def run(env: Env) -> Value:
            value = head(env)
            return any(value == r(env) for r in runs) != negate

        return _Compiled(run, "bool")

    def expect(self, node: ast.AST, compiled: _Compiled, kind: Kind, what: str) -> None:
        if compiled.kind != kind:
            raise self.fail(node, f"{what}, and {self.source(node)} is {_a(compiled.kind)}")


def _pair(fn: Callable[[Value, Value], bool], right: Evaluator) -> \
        Callable[[Env, Value], tuple[bool, Value]]:
    def step(env: Env, value: Value) -> tuple[bool, Value]:
        other = right(env)
        return fn(value, other), other

    return step


def _a(kind: Kind) -> str:
    return {"number": "a number", "str": "a string", "bool": "a condition"}[kind]


@dataclass(frozen=True)
class Constraint:
    """One compiled constraint of a case."""

    #: the expression as the case writes it
    text: str
    #: its position in the case's ``constraints`` list
    index: int
    #: the variables it reads (canonical flag names, and ``gpus``)
    names: frozenset[str]
    #: the line of the case file that gives it (None: no lines)
    line: int | None = None
    _run: Evaluator = field(default=lambda env: True, repr=False, compare=False)

    @property
    def field(self) -> str:
        return f"constraints[{self.index}]"

    @property
    def needs_gpus(self) -> bool:
        return GPUS in self.names

    def holds(self, env: Env) -> bool:
        """Whether ``env`` (every variable it names) satisfies it; ConstraintError when it
        cannot be evaluated (division by zero)."""
        return bool(self._run(env))


def compile_constraint(text: str, resolve: Resolver, *, index: int = 0,
                       line: int | None = None) -> Constraint:
    """A constraint, parsed and checked; raises ConstraintError saying what is wrong, where."""
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError(f"a constraint is a condition such as 'tp-size * dp-size <= gpus', "
                              f"got {text!r}")
    stripped = re.sub(r"[\r\n\t]", " ", text.strip())
    shaped, spans = _shape(stripped)
    tree = _parse(shaped, stripped)
    compiler = _Compiler(stripped, _unshaped(resolve, stripped, shaped, spans))
    try:
        compiled = compiler.compile(tree.body)
    except RecursionError:
        raise ConstraintError(f"{stripped!r} is nested too deeply") from None
    if compiled.kind != "bool":
        raise ConstraintError(f"{stripped!r} is {_a(compiled.kind)}, not a condition: compare it "
                              "(for example 'tp-size * dp-size <= gpus')")
    return Constraint(text.strip(), index, frozenset(compiler.names), line, compiled.run)


def _unshaped(resolve: Resolver, original: str, shaped: str,
              spans: Sequence[tuple[int, int]]) -> Resolver:
    """The resolver, given each name as the case wrote it (dashes back in place); an unknown
    dashed name that reads as a subtraction of two names says how to write one."""
    by_shape = {shaped[a:b]: original[a:b] for a, b in spans}

    def known(name: str) -> bool:
        try:
            resolve(name)
        except ConstraintError:
            return False
        return True

    def find(name: str) -> tuple[str, Kind]:
        spelled = by_shape.get(name, name)
        try:
            return resolve(spelled)
        except ConstraintError as exc:
            parts = spelled.split("-")
            for k in range(1, len(parts)):
                left, right = "-".join(parts[:k]), "-".join(parts[k:])
                if known(left) and known(right):
                    raise ConstraintError(f"{exc.message} (to subtract, put spaces around "
                                          f"'-': {left} - {right})") from None
            raise

    return find


@dataclass(frozen=True)
class Constraints:
    """A case's constraints, and the fixed flag values they read."""

    items: tuple[Constraint, ...] = ()
    #: base flag values (``flags:``) the constraints name, by canonical name
    fixed: tuple[tuple[str, Value], ...] = ()
    #: the line of the case's ``constraints`` key (None: no lines)
    line: int | None = None

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Constraint]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def needs_gpus(self) -> bool:
        return any(c.needs_gpus for c in self.items)

    def without_gpus(self) -> Constraints:
        """Those that do not name ``gpus`` (decidable when the case is loaded)."""
        return Constraints(tuple(c for c in self.items if not c.needs_gpus), self.fixed,
                           self.line)

    def broken(self, params: Mapping[str, Value], gpus: int | None = None) -> \
            Constraint | None:
        """The first constraint ``params`` (a configuration's flags) breaks, or None. A
        constraint that names ``gpus`` needs it; ConstraintError when one cannot be evaluated
        (its message names the constraint)."""
        env: dict[str, Value] = dict(self.fixed)
        env.update(params)
        if gpus is not None:
            env[GPUS] = gpus
        for constraint in self.items:
            try:
                if not constraint.holds(env):
                    return constraint
            except ConstraintError as exc:
                raise ConstraintError(f"{constraint.text!r} cannot be evaluated for "
                                      f"{_describe(params)}: {exc.message}",
                                      index=constraint.index) from None
            except KeyError as exc:  # only without gpus: the caller should have bound it
                raise ConstraintError(f"{constraint.text!r} needs {exc.args[0]}, which is "
                                      "unknown here", index=constraint.index) from None
        return None

    def admits(self, gpus: int | None = None) -> Callable[[Mapping[str, Value]], bool]:
        """A predicate: whether a configuration's flags satisfy every constraint."""
        def admit(params: Mapping[str, Value]) -> bool:
            return self.broken(params, gpus) is None

        return admit


def unsatisfied(space: Space, constraints: Constraints, gpus: int | None = None) -> str:
    """Why no configuration of a (listable) grid satisfies the constraints, with an example."""
    size = space.size or 0
    first = space.grid("example", 1)[0] if size else None
    broken = constraints.broken(dict(first.params), gpus) if first is not None else None
    pool = f" with gpus = {gpus}" if gpus is not None else ""
    example = (f"; the first, {first.id}, breaks {broken.field} ({broken.text})"
               if first is not None and broken is not None else "")
    each = f"each of its {size:,} configurations" if size != 1 else "its one configuration"
    return (f"no configuration of the grid satisfies the constraints{pool}: {each} breaks "
            f"one{example}")


def did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(params: Mapping[str, Value]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "the default configuration"
