"""Cheap string normalisation of an answer, and the no-sympy fast path for numbers.

Everything here is linear-time string work. :func:`parse_number` turns the common
answers (integers, decimals, fractions, mixed numbers, percentages, scientific
notation, thousands separators, currency, units) into exact :class:`Fraction`
values so that most comparisons never touch sympy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

# Units dropped after a number (see docs/math.md, "Units"). Lower-case, singular and plural.
UNITS = frozenset(
    [
        "cm", "mm", "km", "m", "meter", "meters", "metre", "metres", "centimeter", "centimeters",
        "millimeter", "millimeters", "kilometer", "kilometers", "in", "inch", "inches", "ft", "foot",
        "feet", "yd", "yard", "yards", "mi", "mile", "miles", "g", "gram", "grams", "kg", "kilogram",
        "kilograms", "mg", "lb", "lbs", "pound", "pounds", "oz", "ounce", "ounces", "ton", "tons", "l",
        "liter", "liters", "litre", "litres", "ml", "gallon", "gallons", "quart", "quarts", "cup",
        "cups", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr",
        "hrs", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year", "years",
        "mph", "kph", "km/h", "m/s", "dollar", "dollars", "cent", "cents", "usd", "euro", "euros",
        "unit", "units", "sq", "square", "cubic", "degree", "degrees", "deg", "rad", "radian",
        "radians", "cm2", "cm3", "m2", "m3", "people", "students", "apples", "marbles",
    ]
)

_SPACING = re.compile(r"(?<!\\)\\[,;:!> ]|\\q?quad|~|\\displaystyle|\\left|\\right|\\big|\\Big")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|textit|mathit|operatorname)\s*\{")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}")
_DOLLAR_WRAP = re.compile(r"^\$+(.*?)\$+$", re.DOTALL)
_NUM = r"\d+(?:\.\d*)?|\.\d+"
# Thousands separators: the first group has 1-3 digits, every later group exactly 3, and one
# separator throughout (",", "{,}" or a space, which is what "\," and "\ " become). So "1,000",
# "1{,}000", "10 000" and "10\,000" are numbers; "32, 349", "1,00" and "1,000 000" are not.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?P<sep>,|\{,\}| )\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?$")
# A command name written with its backslash doubled (a reference escaped twice: "\\begin",
# "\\frac"). Only known names: "\\" followed by a letter is otherwise a matrix row break.
_DOUBLED_COMMAND = re.compile(
    r"(?<!\\)\\\\(?=(?:begin|end|frac|dfrac|tfrac|sqrt|pi|cdot|times|infty|text|left|right|le|ge|"
    r"leq|geq|neq|pm|mp|boxed|mathrm|mathbf|sin|cos|tan|log|ln|circ|dots|ldots|cup|cap)(?![A-Za-z]))"
)
_DECIMAL = re.compile(rf"^[+-]?(?:{_NUM})$")
_SCI_E = re.compile(rf"^[+-]?(?:{_NUM})[eE][+-]?\d{{1,4}}$")
_SCI_TIMES = re.compile(
    rf"^(?P<m>[+-]?(?:{_NUM}))\s*(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{{?\s*(?P<e>[+-]?\d{{1,4}})\s*\}}?$"
)
_FRAC = re.compile(
    r"^(?P<s>[+-]?)\\[dt]?frac\s*(?:\{\s*(?P<a>\d+)\s*\}|(?P<a1>\d))"
    r"\s*(?:\{\s*(?P<b>\d+)\s*\}|(?P<b1>\d))$"
)
_SLASH = re.compile(r"^(?P<s>[+-]?)(?P<a>\d+)\s*/\s*(?P<b>\d+)$")
_MIXED = re.compile(
    r"^(?P<s>[+-]?)(?P<w>\d+)\s*(?:\\[dt]?frac\s*\{\s*(?P<a>\d+)\s*\}\s*\{\s*(?P<b>\d+)\s*\}|"
    r"\\[dt]?frac(?P<a1>\d)(?P<b1>\d)|\s(?P<a2>\d+)\s*/\s*(?P<b2>\d+))$"
)
_MAX_DIGITS = 4000
_CLOCK = re.compile(
    r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<half>[ap]\.?\s*m\.?)?$", re.IGNORECASE
)
_WORD = r"[A-Za-z/]+(?:\^\{?[23]\}?)?"
_UNIT_TAIL = re.compile(rf"^([^A-Za-z]*?\d\}}?)\s*({_WORD}(?:\s+{_WORD})*)\s*$")


_ANY_DIGIT = re.compile(r"\d")  # str patterns: \d is any Unicode decimal digit (category Nd)
# The Arabic decimal and thousands separators (U+066B, U+066C), written with Arabic-Indic digits.
ARABIC_SEPARATORS = str.maketrans({"\u066b": ".", "\u066c": ","})


def ascii_digits(s: str) -> str:
    """Decimal digits of any script (fullwidth ``５``, Arabic-Indic ``٥``, bold ``𝟓``) as ASCII,
    and the Arabic decimal separator ``٫`` as ``.``, its thousands separator ``٬`` as ``,``.

    They are digits, not look-alikes: each has the numeric value it shows. The number fast
    path read them already (``\\d`` matches them), but math-verify's parser does not, so
    ``x=５`` scored 0 against ``5`` and a reference ``2x+１`` was invalid; ``٣٫٥`` (3.5) was
    unparsable. Only category Nd and those two separators change: superscripts, circled or
    Roman numerals and letters that look like digits (``O``, ``l``, Cyrillic ``б``) are not
    decimal digits and stay as written. A ``٬`` then follows the grouping rules of ``,``.

    >>> ascii_digits("x=５, ٣ + 𝟐, ٣٫٥")
    'x=5, 3 + 2, 3.5'
    """
    if s.isascii():
        return s
    return _ANY_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), s.translate(ARABIC_SEPARATORS))


def strip_wrappers(s: str) -> str:
    """Remove math delimiters, ``\\boxed``, sizing and spacing commands, trailing dots."""
    s = re.sub(r"\\\\\s*(?=\\end\s*\{)", "", s.strip())  # a row break closing a matrix's last row
    if _DOUBLED_COMMAND.search(s):  # escaped twice: its row breaks are doubled too
        s = _DOUBLED_COMMAND.sub(r"\\", s).replace("\\\\\\\\", "\\\\")
    s = re.sub(r"(?<!\\)\\$", "", s).strip()  # a stray trailing backslash
    s = re.sub(r",\s*\\!\s*", ",", s)  # "11,\!111": MATH's thousands separator
    s = re.sub(r"\\bmod\b", r"\\mod", s)  # the parser knows \mod, not \bmod
    for _ in range(4):
        before = s
        m = _DOLLAR_WRAP.match(s)
        if m and "$" not in m.group(1):
            s = m.group(1).strip()
        for a, b in (("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(a) and s.endswith(b):
                s = s[len(a) : -len(b)].strip()
        if s.startswith("\\boxed{") and s.endswith("}") and _closes_at_end(s, 6):
            s = s[7:-1].strip()
        s = s.rstrip(".").strip()
        if s == before:
            break
    s = _SPACING.sub(" ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\s+", " ", s).strip()


def _closes_at_end(s: str, open_index: int) -> bool:
    from rewardlab.rewards.math.extract import match_brace

    return match_brace(s, open_index) == len(s) - 1


def unwrap_text(s: str) -> str:
    """``\\text{abc}`` → ``abc`` (and the other text-like commands), everywhere."""
    from rewardlab.rewards.math.extract import match_brace

    for _ in range(20):
        m = _TEXT_CMD.search(s)
        if m is None:
            break
        end = match_brace(s, m.end() - 1)
        if end < 0:
            break
        s = s[: m.start()] + s[m.end() : end] + s[end + 1 :]
    return s


def strip_units(s: str) -> tuple[str, bool]:
    """Drop degree signs, currency and trailing unit words; report whether any was dropped."""
    t = _DEGREE.sub("", s)
    t = re.sub(r"^\\?\$\s*|^(?:USD|US\$)\s*", "", t)
    t = unwrap_text(t).strip()
    t = re.sub(r"(?<=\d)\s*(?:percent|percentage|pct)\.?$", "%", t, flags=re.IGNORECASE)  # "28 pct" is 28%
    # trailing unit words ("10 cm", "5 square feet", "3 cm^2", "4 dollars")
    m = _UNIT_TAIL.match(t)
    if m:
        words = re.sub(r"\^\{?[23]\}?", "", m.group(2)).lower().split()
        if words and all(w in UNITS for w in words):
            t = m.group(1).strip()
    t = t.replace("\\%", "%").strip()
    return t, t != s.strip()


@dataclass(frozen=True, slots=True)
class Num:
    """An exact number from the fast path: value, whether it had ``%``, whether decimal."""

    value: Fraction
    percent: bool = False
    decimal: bool = False
    places: int | None = None  # digits after the point of a plain decimal ("33.30" -> 2)
    clock: bool = False  # a time of day (value in seconds after midnight): only equals a time


def parse_number(s: str) -> Num | None:
    """Parse a plain number (after :func:`strip_wrappers`), or ``None`` if it is not one."""
    t, _ = strip_units(s)
    percent = t.endswith("%")
    if percent:
        t = t[:-1].strip()
    if len(t) > _MAX_DIGITS or not t:
        return None
    seconds = clock_seconds(t)
    if seconds is not None:
        return Num(Fraction(seconds), clock=True)
    value = _number_value(t)
    if value is None:
        return None
    decimal = "." in t or "e" in t.lower()
    point = re.fullmatch(r"[^.eE]*\.(\d+)", t)
    return Num(value, percent, decimal, len(point.group(1)) if point else None)


def clock_seconds(t: str) -> int | None:
    """A time of day (``20:34``, ``08:34``, ``20:34:00``, ``8:34 p.m.``) in seconds after midnight.

    ``7:32`` is a ratio, not a time: a time needs seconds, a.m./p.m., an hour past 12 or a
    leading zero.
    """
    m = _CLOCK.match(t)
    if m is None:
        return None
    hours, minutes, secs = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
    half = (m.group("half") or "").lower().replace(".", "").replace(" ", "")
    if not (half or m.group("s") or hours > 12 or m.group("h").startswith("0")):
        return None
    if minutes > 59 or secs > 59 or hours > (12 if half else 24):
        return None
    if half:
        hours = hours % 12 + (12 if half == "pm" else 0)
    return hours * 3600 + minutes * 60 + secs


def _number_value(t: str) -> Fraction | None:
    t = t.replace("−", "-")
    m = _GROUPED.match(t)
    if m:
        return Fraction(t.replace(m.group("sep"), ""))
    if _DECIMAL.match(t):
        return Fraction(t)
    if _SCI_E.match(t):
        return Fraction(t)
    m = _SCI_TIMES.match(t)
    if m:
        return Fraction(m.group("m")) * Fraction(10) ** int(m.group("e"))
    m = _FRAC.match(t) or _SLASH.match(t)
    if m:
        groups = m.groupdict()
        a = int(groups["a"] or groups.get("a1") or 0)
        b = int(groups["b"] or groups.get("b1") or 0)
        if b == 0:
            return None
        v = Fraction(a, b)
        return -v if m.group("s") == "-" else v
    m = _MIXED.match(t)
    if m:
        a = int(m.group("a") or m.group("a1") or m.group("a2"))
        b = int(m.group("b") or m.group("b1") or m.group("b2"))
        if b == 0:
            return None
        v = int(m.group("w")) + Fraction(a, b)
        return -v if m.group("s") == "-" else v
    return None


# --- words -----------------------------------------------------------------------------
# Function and constant names written without their backslash ("sin x", "pi"): the parser would
# read them as products of letters, so they get their backslash back.
FUNCTION_NAMES = frozenset(
    [
        "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
        "tanh", "log", "ln", "exp", "pi", "max", "min", "gcd", "lcm", "mod",
    ]
)
# Names the parser already reads as one thing without a backslash.
_PARSER_WORDS = frozenset(["sqrt", "infinity", "inf", "infty", "oo"])
_CONNECTIVES = frozenset(["and", "or"])
_ENGLISH_PAIRS = frozenset([
    "no", "is", "if", "of", "in", "on", "to", "at", "an", "as", "be", "by", "do", "go", "it",
    "so", "up", "us", "we", "my", "me", "he",
])
NUMBER_WORDS = frozenset(
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty", "thirty", "forty", "fourty", "fifty", "sixty", "seventy", "eighty",
        "ninety", "hundred", "thousand", "million", "billion", "trillion", "half", "halves",
        "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "minus",
        "negative", "point", "and", "a", "an",
    ]
)
# A command with a name-like argument (kept whole), any other command, or a run of letters.
_WORD_TOKEN = re.compile(
    r"\\(?:begin|end|text\w*|math\w+|operatorname|mbox)\s*\{[^{}]*\}|\\[A-Za-z]+|(?P<w>[A-Za-z]+)"
)
_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z\s.,;:'’!?()\-]*")


def is_word(run: str) -> bool:
    """Whether a run of letters is a word, not a product of one-letter symbols (``xy``, ``mn``).

    A word has three or more letters and a vowel (``listen``, ``Monday``, ``abc``), or is a
    two-letter English word (``no``, ``or``); a function or constant name is not a word.
    Heuristic by necessity: ``abc`` is read as a word (compared as text), ``xyz`` as x·y·z.
    """
    low = run.lower()
    if low in FUNCTION_NAMES or low in _PARSER_WORDS:
        return False
    if len(low) == 2:
        return low in _ENGLISH_PAIRS
    return len(low) >= 3 and any(v in low for v in "aeiou")


def text_answer(s: str) -> str | None:
    """The normalised text of an answer made only of words (``\\text{Monday}``, ``forty two``).

    ``None`` when the answer holds any mathematics (digits, commands, operators) or no word.
    The normal form is lower case with punctuation dropped, so it compares as text.
    """
    plain = unwrap_text(s).strip()
    if not _PLAIN_TEXT.fullmatch(plain):
        return None
    runs = re.findall(r"[A-Za-z]+", plain)
    if not any(is_word(r) and r.lower() not in _CONNECTIVES for r in runs):
        return None
    return " ".join(r.lower() for r in runs)


def is_number_in_words(text: str) -> bool:
    """Whether a normalised text answer is a number written in words (``forty two``)."""
    words = text.split()
    return bool(words) and all(w in NUMBER_WORDS for w in words) and not set(words) <= {"and", "a", "an"}


def protect_words(s: str) -> str:
    """Give bare function names their backslash and wrap other words in ``\\text{}``.

    The parser reads a bare run of letters as a product of one-letter symbols (``silent`` =
    ``listen``); a word in ``\\text{}`` is one symbol. Connectives and unit words are left for
    the normaliser (which turns ``1 and 2`` into a set and drops units).
    """

    def fix(m: re.Match[str]) -> str:
        run = m.group("w")
        if run is None:
            return m.group(0)
        low = run.lower()
        if low in FUNCTION_NAMES:
            return f"\\{low} "
        if low in _CONNECTIVES or low in UNITS or not is_word(run):
            return run
        return f"\\text{{{run}}}"

    return _WORD_TOKEN.sub(fix, s)
