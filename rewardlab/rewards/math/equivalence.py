"""Parse an answer or a reference once (cached) and decide whether two are equivalent.

Parsing goes: cheap guards (length, nesting, power towers) → placeholder and
multiple-choice detection → the exact no-sympy number fast path → math-verify's
LaTeX normaliser and ``latex2sympy2_extended``. Comparison goes: string equality →
exact numbers → hack guards (several candidates, inequalities) → numeric and
random-point probes → math-verify's structural comparison (sets, tuples,
intervals, matrices, equations). See ``docs/math.md`` for the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

from rewardlab.rewards.math.extract import last_boxed
from rewardlab.rewards.math.normalize import (
    Num,
    ascii_digits,
    is_number_in_words,
    parse_number,
    protect_words,
    strip_wrappers,
    text_answer,
    unwrap_text,
)

Kind = Literal["empty", "placeholder", "choice", "number", "text", "expr", "unparsable", "too_complex"]

MAX_ANSWER_CHARS = 1000
MAX_BRACE_DEPTH = 24
MAX_FRACS = 30
MAX_POWER_DEPTH = 3
PROBE_POINTS = (
    Fraction(-13, 10), Fraction(7, 10), Fraction(29, 10), Fraction(-31, 17), Fraction(53, 19),
)

_PLACEHOLDERS = frozenset(
    {
        "", "?", "??", "...", "\\ldots", "\\dots", "\\cdots", "…", "_", "__", "___",
        "answer", "the answer", "final answer", "the final answer", "your answer", "ans",
        "answer here", "blank", "n/a", "tbd", "todo", "<answer>", "[answer]", "x", "y", "n",
    }
)
# Missing-value markers a dataset writes for "no reference" (bare: "\\text{none}" is an answer).
_MISSING_GOLD = frozenset({"nan", "null", "none", "nil", "n/a", "na", "?", "tbd", "todo", "-"})
_CHOICE = re.compile(r"^\(?\s*([A-J])\s*\)?[.:]?$")
_CHOICE_WITH_TEXT = re.compile(r"^(?:option|choice|answer)?\s*\(?\s*([A-J])\s*(?:\)|\.|:)\s+\S")
_HEDGE_WORDS = re.compile(
    r"\b(or|and|to|between|through|at least|at most|or more|or less|more than|less than|"
    r"fewer than|greater than|up to|approximately|approx|about|around|roughly|maybe|perhaps|"
    r"either|possibly|probably|nearly|almost)\b",
    re.IGNORECASE,
)
_COMMAND = re.compile(r"\\[A-Za-z]+")
# The tokens of the side-by-side scan: environment ends, a line break, commands, numbers (with
# a sign written right after a space: "3 -4"), spaces, any other character.
_SCAN_TOKEN = re.compile(
    r"\\(?:begin|end)\s*\{[^{}]*\}|\\\\|\\[A-Za-z]+|\\.|(?<=\s)[+-]\d+(?:\.\d+)?|\d+(?:\.\d+)?|\s+|.",
    re.DOTALL,
)


@dataclass(frozen=True)
class Parsed:
    """One side of a comparison, parsed once and cached."""

    text: str
    kind: Kind
    num: Num | None = None
    words: str = ""  # the normalised text of a text answer (kind "text")
    letter: str | None = None
    expr: Any = field(default=None, compare=False)
    reason: str = ""
    hedge: str = ""  # why this answer offers more than one value ("or", "at least", …)

    def describe(self) -> str:
        """A short human-readable form for ``detail`` (cached: printing sympy is slow)."""
        return _describe(self)


@lru_cache(maxsize=1 << 16)
def _describe(parsed: Parsed) -> str:
    if parsed.kind == "number" and parsed.num is not None:
        return _fraction_str(parsed.num.value) + ("%" if parsed.num.percent else "")
    if parsed.kind == "choice":
        return f"choice {parsed.letter}"
    if parsed.kind == "text":
        return f"text {parsed.words!r}"
    if parsed.kind == "expr":
        return _safe_str(parsed.expr)
    return parsed.kind if not parsed.text else f"{parsed.kind}: {parsed.text[:80]}"


def _fraction_str(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _safe_str(expr: Any) -> str:
    try:
        s = str(expr)
    except Exception:  # huge integers refuse str()
        return type(expr).__name__
    return s if len(s) <= 200 else s[:200] + "…"


def complexity_problem(s: str) -> str:
    """Why ``s`` is too costly to hand to sympy, or ``""``."""
    if len(s) > MAX_ANSWER_CHARS:
        return f"longer than {MAX_ANSWER_CHARS} characters"
    depth = best = 0
    for c in s:
        if c in "{([":
            depth += 1
            best = max(best, depth)
        elif c in "})]":
            depth -= 1
    if best > MAX_BRACE_DEPTH:
        return f"brackets nested {best} deep"
    if s.count("\\frac") > MAX_FRACS:
        return f"more than {MAX_FRACS} fractions"
    depth = _power_depth(s)
    if depth >= MAX_POWER_DEPTH or (depth == 2 and re.search(r"\^\s*\{[^{}]*\d{2,}", s)):
        return "a power tower"
    if re.search(r"(?:\^|\*\*)\s*\{?\s*[+-]?\d{6,}", s):
        return "a huge exponent"
    if re.search(r"\d{400,}", s):
        return "a number with hundreds of digits"
    if re.search(r"!\s*!|\d{5,}\s*!|\}\s*\)?\s*!", s):
        return "a large factorial"
    return ""


def _power_depth(s: str) -> int:
    """Nesting depth of ``^`` inside exponents (``2^{2^{2}}`` → 2)."""
    best = 0
    stack: list[bool] = []  # per open brace: is it an exponent group?
    level = 0
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "^":
            level += 1
            best = max(best, level)
            j = i + 1
            while j < n and s[j] == " ":
                j += 1
            if j < n and s[j] == "{":
                stack.append(True)
                i = j + 1
                continue
            level -= 1  # single-token exponent
        elif c == "{":
            stack.append(False)
        elif c == "}" and stack and stack.pop():
            level -= 1
        i += 1
    if "**" in s:
        best = max(best, s.count("**"))
    return best


def _is_placeholder(s: str) -> bool:
    t = unwrap_text(s).strip().strip("$ ").lower()
    t = re.sub(r"\s+", " ", t)
    return t in _PLACEHOLDERS or bool(re.fullmatch(r"[_\s.?]*|\\(?:square|box|blank)\b.*", t))


def reference_text(ref: str) -> str:
    """The answer part of a reference: the last box of a full solution, or after ``####``."""
    if "\\boxed" in ref or "\\fbox" in ref:
        boxed, _ = last_boxed(ref)
        if boxed is not None:
            return boxed
    if "####" in ref:
        return ref.rsplit("####", 1)[1].strip()
    return ref


@lru_cache(maxsize=1 << 16)
def analyze(raw: str, role: Literal["gold", "pred"]) -> Parsed:
    """Parse one answer (``pred``) or reference (``gold``) text; cached per worker."""
    text = reference_text(raw) if role == "gold" else raw
    s = ascii_digits(strip_wrappers(text))
    problem = complexity_problem(s)
    if problem:
        return Parsed(s, "too_complex", reason=problem)
    if not s.strip("{} "):
        return Parsed(s, "empty")
    if role == "pred" and re.search(r"\\infty\s*\]|\[\s*-\s*\\infty", s):
        return Parsed(s, "unparsable", reason="an interval closed at infinity")
    if role == "pred" and _is_placeholder(s):
        return Parsed(s, "placeholder")
    if role == "gold" and s.strip().lower() in _MISSING_GOLD:
        return Parsed(s, "empty", reason="a missing-value marker")
    letter = _choice_letter(s, role)
    if letter is not None:
        return Parsed(s, "choice", letter=letter)
    num = parse_number(s)
    if num is not None:
        return Parsed(s, "number", num=num)
    words = text_answer(s)
    if words is not None:
        if role == "gold" and is_number_in_words(words):
            return Parsed(s, "unparsable", reason="a number written in words; write it in digits")
        return Parsed(s, "text", words=words)
    hedge = hedge_reason(s)
    expr, why = _sympy_parse(s)
    if expr is None:
        return Parsed(s, "unparsable", reason=why, hedge=hedge)
    return Parsed(s, "expr", expr=expr, hedge=hedge)


def hedge_reason(s: str) -> str:
    """Why the text offers several values (connective words, numbers side by side), or ``""``.

    Command names are not words (``\\to`` is not "to").
    """
    words = _HEDGE_WORDS.search(_COMMAND.sub(" ", unwrap_text(s)))
    if words:
        return f"the word {words.group(1).lower()!r}"
    if numbers_side_by_side(s):
        return "numbers side by side"
    return ""


def numbers_side_by_side(s: str) -> bool:
    """Whether two numbers stand next to each other with only a space or line break between.

    A scan of the LaTeX's structure, because the parser reads ``3 4`` as 7 and ``3 \\quad 4``
    alike, so its result cannot show the juxtaposition. A number that is a sub- or superscript
    (``\\log_2 8``, ``2^6 3^5``) or a braced group's content does not count, and inside an
    environment (a matrix, a determinant) ``\\\\`` and ``&`` are its structure, not separators.
    """
    env = 0
    last = "other"  # the previous token: a plain number, a script, or anything else
    gap = False  # a space (or a line break outside environments) since that token
    prev = ""
    groups: list[bool] = []  # per open brace: is it a script's argument?
    for m in _SCAN_TOKEN.finditer(s):
        tok = m.group(0)
        if tok.isspace() or (tok == "\\\\" and env == 0):
            gap = True
            continue
        if tok[0].isdigit() or (tok[0] in "+-" and len(tok) > 1):
            if last == "number" and gap:
                return True
            last = "script" if prev in ("^", "_") else "number"
        elif tok == "{":
            groups.append(prev in ("^", "_"))
            last = "other"
        elif tok == "}":
            last = "script" if groups and groups.pop() else "other"
        else:
            env += tok.startswith("\\begin") - tok.startswith("\\end")
            last = "other"
        prev, gap = tok, False
    return False


def _choice_letter(s: str, role: str) -> str | None:
    t = unwrap_text(s).strip().strip("*").strip()
    m = _CHOICE.match(t)
    if m:
        return m.group(1)
    if role == "pred":
        m = _CHOICE_WITH_TEXT.match(t)
        rest = t[m.end() - 1 :] if m else ""
        if m and not hedge_reason(rest) and not re.search(r"\(\s*[A-J]\s*\)|\b[A-J]\)", rest):
            return m.group(1)
    return None


def _sympy_parse(s: str) -> tuple[Any, str]:
    """math-verify's normaliser + ``latex2sympy2_extended`` (no signal timeouts).

    Unit stripping is tried first where units are marked up; if that leaves something
    unparsable (it eats ``\\mathrm{e}``), the text is parsed again the other way.
    """
    s = protect_words(s)
    if _nested_pm(s):
        return _parse_pm(s)
    return _parse_text(s)


def _parse_text(s: str) -> tuple[Any, str]:
    why = ""
    # Unit stripping first only where units are marked up (\\text{cm}, \\mathrm{kg}): on bare
    # letters it eats variables ("2ab" would read as 2, "3 h" as 3).
    marked = re.search(r"\\(?:text|math)[a-z]*\s*\{|\\mbox\b", s) is not None
    for units in (marked, not marked):
        expr, why = _sympy_parse_once(s, units)
        if expr is not None:
            return expr, ""
    return None, why


def _nested_pm(s: str) -> bool:
    """Whether a ``\\pm`` (or ``\\mp``) stands inside brackets (``\\frac{-1 \\pm \\sqrt5}{2}``,
    ``(\\pm 1, 0)``), where the parser cannot read it; at the top level (``\\pm 2, 5``) it can."""
    depth = 0
    for m in re.finditer(r"\\[pm]m\b|\\[{}]|[{(\[]|[})\]]", s):
        tok = m.group(0)
        if tok in ("\\pm", "\\mp"):
            if depth > 0:
                return True
        elif tok[-1] in "{([":
            depth += 1
        else:
            depth -= 1
    return False


def _parse_pm(s: str) -> tuple[Any, str]:
    """``a \\pm b`` as the set of its two readings (every ``\\pm`` one sign, ``\\mp`` the other)."""
    from sympy import FiniteSet

    readings = []
    for plus, minus in (("+", "-"), ("-", "+")):
        text = re.sub(r"\\mp\b", minus, re.sub(r"\\pm\b", plus, s))
        expr, why = _parse_text(text)
        if expr is None:
            return None, why
        readings.append(expr)
    try:
        return FiniteSet(*readings), ""
    except Exception as exc:  # a reading that cannot be a set element (a relation, a matrix)
        return None, f"{type(exc).__name__}: {str(exc)[:120]}"


@lru_cache(maxsize=1)
def _sll_converter() -> Any:
    """latex2sympy2_extended's converter with ANTLR's SLL prediction (None if unavailable).

    The standard two-stage ANTLR strategy: the fast SLL mode first; on any syntax
    error the caller re-parses with the library's default (full LL) mode, so only
    inputs SLL parses cleanly take the fast path. Built as a subclass: the library
    itself is not modified (math-verify in the same process is unaffected).
    """
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended import latex2sympy2 as l2s
    except ImportError:
        return None
    base = getattr(l2s, "_Latex2Sympy", None)
    if base is None or not hasattr(base, "create_parser"):
        return None

    from sympy import Integer

    class SLLConverter(base):  # type: ignore[misc, valid-type]
        def create_parser(self, latex_str: str) -> Any:
            parser = super().create_parser(latex_str)
            parser._interp.predictionMode = PredictionMode.SLL
            return parser

        def parse_number(self, text: str) -> Any:
            # The library builds every number through sympify (an eval); digits are
            # built directly, with the same result. Anything else goes to the library.
            digits = text.replace(",", "")
            if digits.isdigit() and digits.isascii():
                return Integer(int(digits))
            return super().parse_number(text)

    return SLLConverter


def _parse_sll(norm: str, is_real: bool) -> Any:
    """Parse with SLL prediction; ``None`` when unavailable or SLL reports an error."""
    converter = _sll_converter()
    if converter is None:
        return None
    try:
        return converter(None, is_real, False).parse(norm)
    except Exception:
        return None


def _sympy_parse_once(s: str, units: bool) -> tuple[Any, str]:
    from latex2sympy2_extended import NormalizationConfig, latex2sympy
    from latex2sympy2_extended.latex2sympy2 import normalize_latex
    from math_verify.grader import should_treat_as_complex

    config = NormalizationConfig(
        basic_latex=True, units=units, malformed_operators=True, nits=True,
        boxed="all", equations=False,
    )
    try:
        norm = normalize_latex(s, config)
        if complexity_problem(norm):
            return None, "too complex after normalisation"
        is_real = not should_treat_as_complex(norm)
        expr = _parse_sll(norm, is_real)
        if expr is None:
            expr = latex2sympy(norm, is_real=is_real, convert_degrees=False,
                               normalization_config=None)
    except Exception as exc:  # the parser raises many types
        return None, f"{type(exc).__name__}: {str(exc)[:120]}"
    if expr is None:
        return None, "parsed to nothing"
    return _evaluate_constants(expr), ""


def _evaluate_constants(expr: Any) -> Any:
    """Read a free symbol ``i`` as the imaginary unit and evaluate ``a \\bmod b``.

    The parser keeps ``i`` a plain (often real) symbol, so ``i(2-i)`` would not equal ``1+2i``,
    and it leaves ``Mod`` unevaluated. A final answer in a free variable named ``i`` is rare;
    complex answers are common (math-verify reads a standalone ``i`` as complex too).
    """
    from sympy import I, Mod, evaluate

    try:
        swap: dict[Any, Any] = {m: Mod(*m.args) for m in expr.atoms(Mod)}
        swap.update({s: I for s in expr.free_symbols if s.name == "i"})
        if swap:
            with evaluate(False):  # keep the structure: "e^{i\\pi} = -1" must not become True
                expr = expr.xreplace(swap)
    except Exception:
        return expr
    return expr


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Numeric tolerance policy (see ``docs/math.md``)."""

    rel_tol: float = 1e-6
    percent: Literal["both", "strict"] = "both"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the answer matches, and which comparison decided."""

    correct: bool
    decided_by: str


def compare(gold: Parsed, pred: Parsed, tol: Tolerance = Tolerance()) -> Verdict:
    """Decide whether ``pred`` is equivalent to ``gold`` (both from :func:`analyze`)."""
    if pred.kind in ("empty", "placeholder") and pred.text != gold.text:
        return Verdict(False, pred.kind)
    if pred.text == gold.text and pred.kind != "empty":
        return Verdict(True, "string")
    if pred.kind == "too_complex":
        return Verdict(False, f"answer too complex ({pred.reason})")
    if pred.hedge and not gold.hedge and _single_valued(gold):
        return Verdict(False, f"hedged answer ({pred.hedge})")
    if gold.kind == "choice":
        return Verdict(pred.kind == "choice" and pred.letter == gold.letter, "choice")
    if gold.kind == "text" or pred.kind == "text":
        same = gold.kind == pred.kind == "text" and gold.words == pred.words
        return Verdict(same, "text (compared as normalised text)")
    if pred.kind == "choice" and gold.kind in ("number", "expr"):
        return Verdict(False, "choice letter for a non-choice reference")
    if gold.kind == "number" and pred.kind == "number":
        assert gold.num is not None and pred.num is not None
        return Verdict(numbers_equal(gold.num, pred.num, tol), "number")
    return _compare_cached(gold, pred, tol)


def _single_valued(gold: Parsed) -> bool:
    """Whether the reference is one value (not a set, list, interval or relation)."""
    if gold.kind == "number":
        return True
    if gold.kind != "expr":
        return False
    from sympy import FiniteSet, Set
    from sympy.core.relational import Relational
    from sympy.logic.boolalg import And, Or

    if isinstance(gold.expr, FiniteSet):
        return len(gold.expr) <= 1
    return not isinstance(gold.expr, (Set, Relational, And, Or))


def numbers_equal(g: Num, p: Num, tol: Tolerance) -> bool:
    """Exact comparison with the documented percent and decimal policy."""
    if g.clock or p.clock:
        return g.clock == p.clock and g.value == p.value  # times of day compare as times
    candidates = [p.value]
    if tol.percent == "both" and g.percent != p.percent:
        # 50% matches 50 and 0.5; 0.5 matches 50%
        candidates.append(p.value / 100 if p.percent else p.value * 100)
    elif tol.percent == "strict" and g.percent != p.percent:
        return False
    return any(_close(g.value, c, g, p, tol) for c in candidates)


def _close(g: Fraction, p: Fraction, gold: Num, pred: Num, tol: Tolerance) -> bool:
    if g == p:
        return True
    if not (gold.decimal or pred.decimal):
        return False  # two exact values: exact comparison only
    if not gold.decimal and g.denominator == 1:
        return False  # an integer reference needs the integer (5.0 is fine, 5.0000001 is not)
    if gold.places is not None and not pred.decimal:
        return rounds_to(p, g, gold.places)
    return abs(g - p) <= Fraction(str(tol.rel_tol)) * max(abs(g), abs(p))


def rounds_to(exact: Any, reference: Any, places: int) -> bool:
    """The rounding rule: an exact answer matches a decimal reference written with ``places``
    decimals when it rounds to it (``\\frac{100}{3}`` matches ``33.3``, ``\\sqrt2`` ``1.414``)."""
    return bool(abs(exact - reference) <= Fraction(5, 10 ** (places + 1)))


@lru_cache(maxsize=1 << 16)
def _compare_cached(gold: Parsed, pred: Parsed, tol: Tolerance) -> Verdict:
    if gold.kind not in ("number", "expr"):
        return Verdict(False, f"reference is {gold.kind}")
    if pred.kind == "unparsable":
        return Verdict(False, "answer unparsable")
    if pred.kind not in ("number", "expr"):
        return Verdict(False, pred.kind)
    g = stated_value(_as_sympy(gold))
    p = _as_sympy(pred)
    guard = _hack_guard(g, p, explicit_set="\\{" in pred.text)
    if not guard:
        g, p = definition_sides(g, stated_value(p))
    if guard:
        return Verdict(False, guard)
    pct = [p]
    if tol.percent == "both":
        g_pct = gold.num is not None and gold.num.percent
        p_pct = pred.num is not None and pred.num.percent
        if g_pct != p_pct:
            pct.append(p / 100 if p_pct else p * 100)
    for cand in pct:
        verdict = _sympy_equal(g, cand, gold, pred, tol)
        if verdict.correct:
            return verdict
    return verdict


def _as_sympy(parsed: Parsed) -> Any:
    import sympy

    if parsed.kind == "number" and parsed.num is not None:
        return sympy.Rational(parsed.num.value.numerator, parsed.num.value.denominator)
    return parsed.expr


def _hack_guard(g: Any, p: Any, explicit_set: bool = False) -> str:
    """Reasons a structurally different answer can never match (hedges, ranges)."""
    from sympy import FiniteSet, Interval, Tuple, Union
    from sympy.core.relational import Equality, Relational
    from sympy.logic.boolalg import And, Or

    def items(x: Any) -> int:
        if isinstance(x, Equality) and isinstance(x.rhs, FiniteSet):
            x = x.rhs  # x = \\pm 2: the values of x
        return len(x) if isinstance(x, FiniteSet) else 1

    def inequality(x: Any) -> bool:
        if isinstance(x, Relational) and not isinstance(x, Equality):
            return True
        if isinstance(x, And) and all(isinstance(a, Equality) for a in x.args):
            return False  # a chain of equations: x = 5+5+1 = 11
        return isinstance(x, (And, Or))

    if _false_equation(p):
        return "a false equation"
    if isinstance(p, FiniteSet) and isinstance(g, (Interval, Tuple)) and explicit_set:
        return "a set for an interval or a tuple"
    if items(p) > 1 and items(g) == 1 and not isinstance(g, (Interval, Union)):
        return "several candidates for a single value"
    if isinstance(p, FiniteSet) and any(inequality(a) for a in p.args) and not inequality(g):
        return "inequality for a value"
    if inequality(p) and not inequality(g) and not isinstance(g, (Interval, Union)):
        return "inequality or range for a value"
    if isinstance(p, (Interval, Union)) and items(g) == 1 and not _is_setlike(g):
        return "interval for a value"
    return ""


def _false_equation(p: Any) -> bool:
    """``3 = 5`` or ``x = 5 = 6``: an equation (or a link of a chain) between unequal numbers."""
    from sympy import Eq
    from sympy.logic.boolalg import BooleanFalse

    if isinstance(p, BooleanFalse):
        return True
    for link in _equation_links(p):
        if isinstance(link, Eq) and not link.lhs.free_symbols and not link.rhs.free_symbols:
            lhs, rhs = _numeric(link.lhs), _numeric(link.rhs)
            if lhs is not None and rhs is not None and not _near(lhs, rhs, 1e-12):
                return True
    return False


def _equation_links(x: Any) -> list[Any]:
    """The equations of an equation or of a chain ``a = b = c`` (``And`` of equations), else []."""
    from sympy import Eq
    from sympy.logic.boolalg import And

    if isinstance(x, Eq):
        return [x]
    if isinstance(x, And) and x.args and all(isinstance(a, Eq) for a in x._unsorted_args):
        return list(x._unsorted_args)
    return []


def stated_value(x: Any) -> Any:
    """The value an equation states when all its sides are closed computations.

    ``\\lim_{x\\to 0} \\frac{\\sin x}{x} = 1``, a determinant ``= 3``, ``2+3 = 5`` and the
    chain ``5+5+1 = 11`` state the value of their last side. Equations with a variable
    (``x = 2``, ``7 = 11a + c``) are left to math-verify's assignment and equation rules.
    """
    links = _equation_links(x)
    closed = all(not (e.lhs.free_symbols or e.rhs.free_symbols) for e in links)
    if links and closed and not _false_equation(x):
        return links[-1].rhs
    return x


def definition_sides(g: Any, p: Any) -> tuple[Any, Any]:
    """``f(x) = 2x+3`` and ``y = 2x+3`` both define the same function: compare right sides.

    Applies when both are equations whose left sides are names (a symbol or an undefined
    function applied to arguments), the same name or one of them a function's.
    """
    from sympy import Eq, Symbol
    from sympy.core.function import AppliedUndef

    if not (isinstance(g, Eq) and isinstance(p, Eq)):
        return g, p
    names = (Symbol, AppliedUndef)
    if not (isinstance(g.lhs, names) and isinstance(p.lhs, names)):
        return g, p
    if g.lhs == p.lhs or isinstance(g.lhs, AppliedUndef) or isinstance(p.lhs, AppliedUndef):
        return g.rhs, p.rhs
    return g, p


def _is_setlike(x: Any) -> bool:
    from sympy import Set
    from sympy.core.relational import Relational
    from sympy.logic.boolalg import And, Or

    return isinstance(x, (Set, Relational, And, Or))


def _numeric(x: Any, subs: dict[Any, Any] | None = None) -> Any:
    """``x`` evaluated to 50 digits (a sympy number), or ``None`` if not a finite number."""
    from sympy import nan, zoo

    try:
        v = x.evalf(50, subs=subs) if subs else x.evalf(50)
        if not v.is_number or v.has(nan, zoo) or v.is_finite is False:
            return None
        abs(v)
    except Exception:
        return None
    return v


def _near(a: Any, b: Any, rel: float) -> bool:
    """``|a - b| <= rel * max(|a|, |b|)`` in sympy arithmetic (no float underflow)."""
    try:
        diff = abs(a - b)
        scale = max(abs(a), abs(b))
        return bool(diff <= rel * scale)
    except Exception:
        return False


def _sympy_equal(g: Any, p: Any, gold: Parsed, pred: Parsed, tol: Tolerance) -> Verdict:
    from sympy import Basic, Expr, Float
    from sympy.matrices import MatrixBase

    if isinstance(g, Expr) and isinstance(p, Expr) and not isinstance(g, MatrixBase):
        g_free, p_free = g.free_symbols, p.free_symbols
        if not g_free and not p_free:
            if g.is_Rational and p.is_Rational:
                return Verdict(bool(g == p), "exact")
            gv, pv = _numeric(g), _numeric(p)
            if gv is not None and pv is not None:
                g_dec = g.has(Float) or (gold.num is not None and gold.num.decimal)
                p_dec = p.has(Float) or (pred.num is not None and pred.num.decimal)
                if g_dec and not p_dec and gold.num is not None:
                    places = gold.num.places
                    if places is not None and pv.is_real:
                        ok = rounds_to(pv, gv, places)
                        return Verdict(ok, "numeric (rounded to the reference's decimals)")
                if not g_dec and g.is_integer is True:  # an integer reference needs the integer
                    return Verdict(_near(gv, pv, 1e-40), "exact")
                rel = tol.rel_tol if (g_dec or p_dec) else 1e-40
                return Verdict(_near(gv, pv, rel), "numeric")
        elif g_free == p_free and len(g_free) <= 4:
            probe = _probe(g, p, tol)
            if probe is not None:
                return Verdict(probe, "random-point probe")
    if isinstance(g, (Basic, MatrixBase)) and isinstance(p, (Basic, MatrixBase)):
        return Verdict(_math_verify_eq(g, p), "math-verify")
    return Verdict(False, "incomparable types")


def _probe(g: Any, p: Any, tol: Tolerance) -> bool | None:
    """Compare at fixed rational points; ``None`` if any point fails to evaluate."""
    from sympy import Rational

    symbols = sorted(g.free_symbols, key=lambda s: s.name)
    agree = 0
    for k, base in enumerate(PROBE_POINTS):
        points = [base + Fraction(i, 7) * (k + 1) for i in range(len(symbols))]
        subs = {s: Rational(v.numerator, v.denominator) for s, v in zip(symbols, points, strict=True)}
        gv, pv = _numeric(g, subs), _numeric(p, subs)
        if gv is None or pv is None:
            return None
        if not _near(gv, pv, max(tol.rel_tol, 1e-9)) and abs(gv - pv) > 1e-20:
            return False
        agree += 1
    return agree == len(PROBE_POINTS)


def _math_verify_eq(g: Any, p: Any) -> bool:
    from math_verify.grader import sympy_expr_eq

    try:
        return bool(sympy_expr_eq(g, p, float_rounding=6, numeric_precision=15, strict=True))
    except Exception:
        return False


# Representative answers parsed once per worker: the LaTeX parser (ANTLR) builds its
# prediction cache lazily, and the first parses of each shape cost ~50 ms instead of ~5 ms.
WARM_UP = (
    "2\\sqrt{3}", "\\frac{\\sqrt{2}}{2}", "(1,2]", "[0,\\infty)", "x^2+2x+1", "\\{1,2\\}", "(3,-1)",
    "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\frac{\\pi}{4}", "x=2", "-2, 3", "2 \\le x \\le 4",
    "\\sin x + \\cos x", "e^{i\\pi}", "\\log_2 8", "4\\pi", "\\sqrt[3]{2}", "\\frac{x+1}{x-1}",
    "\\pi \\cdot 4", "\\text{Monday}", "\\frac{1}{\\sqrt{5}}", "(x-1)(x+1)",
)


@lru_cache(maxsize=1)
def warm_up() -> None:
    """Parse :data:`WARM_UP` once per process, so a fresh worker's first real answers are fast."""
    for text in WARM_UP:
        _sympy_parse(text)
