"""Write ``math_corpus.jsonl``: labelled (completion, reference, expected) cases.

Labels are what a careful grader of competition mathematics says, under the
policy in ``docs/math.md``; they are written here by hand (equivalent forms and
wrong forms of each reference), never produced by the grader under test.

expected: ``correct`` (reward 1), ``incorrect`` (reward 0: a wrong, hedged,
placeholder or unbounded answer), ``no_answer`` (nothing extractable) or
``invalid_reference``. ``hack`` marks answers that try to win reward without a
single correct final answer: they must never be scored correct.

Run ``python tests/data/build_math_corpus.py`` to regenerate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REASONING = [
    "Let me work through this. First, 12 + 30 = 42, and 7 * 6 = 42 as well. "
    "If I try x = 5 the left side is 25, which is too small, so x must be larger. ",
    "We set up the equation 3a + 4 = 19, so a = 5. Then the total is 5 * 8 = 40, "
    "minus the 13 already counted, which leaves 27 for the second part. ",
    "Consider the cases n = 1, 2, 3. For n = 1 we get 2; for n = 2 we get 6; for n = 3 we get 24. "
    "The pattern suggests (n+1)!, but let us check the boundary 100 as well. ",
]

TEMPLATES = {
    "boxed": "{r}Therefore the answer is $\\boxed{{{a}}}$.",
    "think_boxed": "<think>{r}Hmm, maybe 99? No.</think>\nSo the final answer is $\\boxed{{{a}}}$.",
    "answer_tag": "<think>{r}</think>\n<answer>{a}</answer>",
    "final_line": "{r}\nThe final answer is ${a}$",
    "answer_colon": "{r}\n\nAnswer: {a}",
    "gsm8k": "{r}\n#### {a}",
}
ALL = list(TEMPLATES)

rows: list[dict[str, object]] = []


def add(completion: str | list[dict[str, str]], reference: object, expected: str, family: str,
        hack: bool = False, note: str = "") -> None:
    rows.append({
        "id": f"{family}-{len(rows):04d}", "completion": completion, "reference": reference,
        "expected": expected, "family": family, "hack": hack, "note": note,
    })


def wrap(answer: str, k: int, templates: list[str] | None = None) -> str:
    """Put ``answer`` in the k-th template (rotating) after some distracting reasoning."""
    names = templates or ALL
    name = names[k % len(names)]
    if name == "gsm8k" and ("\\" in answer or " " in answer.strip()):
        name = "boxed"
    return TEMPLATES[name].format(r=REASONING[k % len(REASONING)], a=answer)


def family(name: str, reference: object, correct: list[str], wrong: list[str],
           templates: list[str] | None = None) -> None:
    for i, a in enumerate(correct):
        add(wrap(a, i + len(rows), templates), reference, "correct", name)
    for i, a in enumerate(wrong):
        add(wrap(a, i + len(rows), templates), reference, "incorrect", name)


LATEX = ["boxed", "think_boxed", "answer_tag"]

# --- integers, GSM8K-style (thousands separators, currency, units) -------------------
for n in [0, 7, 18, 42, 72, 100, 256, 1000, 1234, 20000, 123456, -3, -15]:
    forms = [str(n), f"{n}.0", f"${n}$" if n >= 0 else f"{n}"]
    if abs(n) >= 1000:
        forms.append(f"{n:,}")
    if n > 0:
        forms.append(f"\\${n}" if n < 1000 else f"{n:,} dollars")
    wrong = [str(n + 1), str(n * 10 if n else 5), f"{n}.5"]
    family("integer", str(n), forms, wrong)
family("integer", "1,000", ["1000", "1,000", "1{,}000", "1000.00"], ["1", "100", "10000"])
family("integer", "$18.90", ["18.90", "18.9", "\\$18.90", "\\$18.9"], ["18.09", "1890", "19"])
family("integer", "10 cm", ["10", "10 cm", "10\\text{ cm}", "10\\,\\text{cm}"], ["100", "1"])
family("integer", "30^\\circ", ["30", "30^\\circ", "30^{\\circ}", "30°", "30 degrees"], ["60", "3"])
family("integer", 42, ["42", "42.0"], ["24", "4.2"])
family("integer", "72", ["72 apples", "72\\text{ marbles}", "\\textbf{72}"], ["720", "7.2"])

# --- fractions, decimals, mixed numbers, percentages, scientific notation --------------
family("fraction", "\\frac{1}{2}", ["\\frac12", "\\dfrac{1}{2}", "1/2", "0.5", "\\tfrac{1}{2}",
                                    "\\frac{2}{4}", "0.50"], ["\\frac{1}{3}", "2", "0.05", "5"])
family("fraction", "\\dfrac{9}{7}", ["\\frac{9}{7}", "9/7", "\\frac{18}{14}", "1\\frac{2}{7}"],
       ["\\frac{7}{9}", "1.28", "9"], LATEX)
family("fraction", "-\\frac{3}{4}", ["-\\frac{3}{4}", "\\frac{-3}{4}", "-0.75", "-3/4"],
       ["\\frac{3}{4}", "0.75", "-\\frac{4}{3}"])
family("fraction", "\\frac{1}{3}", ["\\frac{1}{3}", "\\frac{2}{6}", "0.333333"],
       ["0.33", "0.3", "3", "\\frac{1}{6}"])
family("mixed", "3\\frac{1}{2}", ["3\\frac{1}{2}", "\\frac{7}{2}", "3.5", "7/2", "3 1/2"],
       ["\\frac{3}{2}", "3", "1.5"])
family("mixed", "\\frac{11}{4}", ["2\\frac{3}{4}", "2.75", "\\frac{11}{4}"], ["2", "\\frac{3}{4}"])
family("percent", "50\\%", ["50\\%", "50", "0.5", "50 percent", "\\frac{1}{2}"],
       ["5", "0.05", "500", "49\\%"])
family("percent", "12.5\\%", ["12.5\\%", "12.5", "0.125", "\\frac{1}{8}"], ["12", "125", "1.25"])
family("percent", "0.2", ["20\\%", "0.2", "\\frac{1}{5}"], ["2\\%", "0.02", "2"])
family("decimal", "0.125", ["0.125", "\\frac{1}{8}", ".125", "1.25\\times 10^{-1}"],
       ["0.12", "0.13", "125", "1.25"])
family("decimal", "3.14", ["3.14", "3.140"], ["3.15", "314", "3.1"])
family("decimal", "2.5", ["2.5", "\\frac{5}{2}", "2.50", "5/2"], ["25", "2.05", "\\frac{2}{5}"])
family("scientific", "1500", ["1.5e3", "1.5\\times10^{3}", "1.5 \\times 10^3", "1500", "1,500"],
       ["1.5", "150", "15000", "1.5\\times10^{4}"])
family("scientific", "3\\times 10^{8}", ["3\\times10^8", "300000000", "3e8", "3.0 \\times 10^{8}"],
       ["3\\times 10^{7}", "38", "3e9"])
family("scientific", "2.5\\times10^{-3}", ["0.0025", "2.5e-3", "\\frac{1}{400}"],
       ["0.025", "2.5", "0.00025"])

# --- symbolic -----------------------------------------------------------------------
family("symbolic", "2\\sqrt{3}", ["2\\sqrt{3}", "\\sqrt{12}", "2 \\sqrt 3", "\\sqrt{3}\\cdot 2",
                                  "\\frac{6}{\\sqrt{3}}"], ["2", "3\\sqrt{2}", "\\sqrt{6}", "12"], LATEX)
family("symbolic", "\\frac{\\sqrt2}{2}", ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}",
                                          "\\sqrt{\\frac12}", "\\frac{\\sqrt 2}{2}"],
       ["\\sqrt{2}", "\\frac{1}{2}", "2", "\\frac{\\sqrt3}{2}"], LATEX)
family("symbolic", "\\pi", ["\\pi", "\\frac{2\\pi}{2}"], ["3", "2\\pi", "\\frac{\\pi}{2}"], LATEX)
family("symbolic", "4\\pi", ["4\\pi", "4 \\pi", "\\pi \\cdot 4"], ["4", "\\pi", "12.56"], LATEX)
family("symbolic", "2\\pi", ["6.283185", "2\\pi"], ["6.28", "6.3", "\\pi^2"], LATEX)
family("symbolic", "x^2+2x+1", ["(x+1)^2", "x^2+2x+1", "1+2x+x^2", "(1+x)(x+1)"],
       ["x^2+1", "(x-1)^2", "x^2+2x", "2x+1"], LATEX)
family("symbolic", "\\frac{x+1}{x-1}", ["\\frac{x+1}{x-1}", "\\frac{1+x}{x-1}", "\\frac{-x-1}{1-x}"],
       ["\\frac{x-1}{x+1}", "x+1", "\\frac{x+1}{1-x}"], LATEX)
family("symbolic", "\\sqrt[3]{2}", ["\\sqrt[3]{2}", "2^{1/3}", "2^{\\frac{1}{3}}"],
       ["\\sqrt{2}", "\\frac{2}{3}", "8"], LATEX)
family("symbolic", "1 - \\frac{1}{e}", ["1-\\frac{1}{e}", "\\frac{e-1}{e}", "1 - e^{-1}"],
       ["1+\\frac{1}{e}", "e-1", "1"], LATEX)
family("symbolic", "\\frac{1}{2^{99}}", ["\\frac{1}{2^{99}}", "2^{-99}"],
       ["\\frac{1}{2^{98}}", "\\frac{1}{2^{100}}", "0"], LATEX)
family("symbolic", "\\frac{1}{2004!}", ["\\frac{1}{2004!}"], ["\\frac{1}{2006!}", "0"], LATEX)
family("symbolic", "3+4i", ["3+4i", "4i+3"], ["3-4i", "5", "4+3i"], LATEX)
family("symbolic", "\\log_2 8", ["3", "\\log_2 8"], ["8", "2"], LATEX)
family("symbolic", "\\frac{\\pi}{6}", ["\\frac{\\pi}{6}", "\\frac{1}{6}\\pi"], ["30", "\\frac{\\pi}{3}"],
       LATEX)
family("symbolic", "2x+3", ["2x+3", "3+2x", "y=2x+3"], ["2x-3", "3x+2", "2x"], LATEX)
family("symbolic", "\\sin^2 x+\\cos^2 x", ["1"], ["0", "2"], LATEX)

# --- equations and assignments -------------------------------------------------------
family("equation", "x=2", ["2", "x=2", "x = 2"], ["3", "x=3", "-2"], LATEX)
family("equation", "5", ["x=5", "n = 5", "a=5"], ["x=6", "5x"], LATEX)
family("equation", "y=2x+3", ["y=2x+3", "y = 3 + 2x"], ["y=2x-3", "y=3x+2"], LATEX)
family("equation", "3x-y+13=0", ["3x-y+13=0", "y=3x+13"], ["3x+4y+14=0", "3x-y=0"], LATEX)

# --- intervals, sets, tuples, matrices, infinity -------------------------------------
family("interval", "(1,2]", ["(1,2]", "(1, 2]"], ["[1,2]", "(1,2)", "[1,2)", "1", "2"], LATEX)
family("interval", "[0,\\infty)", ["[0,\\infty)", "[0, \\infty)"], ["(0,\\infty)", "[0,\\infty]", "0"],
       LATEX)
family("interval", "(-\\infty, 3]", ["(-\\infty,3]", "(-\\infty, 3]"], ["(-\\infty,3)", "3", "[3,\\infty)"],
       LATEX)
family("interval", "[1,2)\\cup(3,\\infty)", ["[1,2)\\cup(3,\\infty)", "[1, 2) \\cup (3, \\infty)"],
       ["[1,2]\\cup(3,\\infty)", "[1,2)", "(3,\\infty)"], LATEX)
family("set", "\\{1,2\\}", ["\\{1,2\\}", "\\{2,1\\}", "1, 2", "2, 1", "1 \\text{ and } 2"],
       ["\\{1\\}", "\\{1,2,3\\}", "1", "2", "\\{1, 3\\}"], LATEX)
family("set", "-2, 1", ["-2, 1", "1, -2", "\\{-2, 1\\}", "x=-2, x=1"], ["-2", "1", "2, -1", "-2, 1, 3"],
       LATEX)
family("set", "\\pm 2", ["\\pm 2", "2, -2", "-2, 2"], ["2", "-2", "4"], LATEX)
family("tuple", "(1,2)", ["(1,2)", "(1, 2)"], ["(2,1)", "(1,3)", "1", "(1,2,3)"], LATEX)
family("tuple", "(3,-1,2)", ["(3,-1,2)", "(3, -1, 2)"], ["(2,-1,3)", "(3,1,2)", "3"], LATEX)
family("tuple", "(0, 1)", ["(0,1)"], ["(0, 1.5)", "(1, 0)"], LATEX)
family("matrix", "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
       ["\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        "\\begin{bmatrix}1\\\\2\\end{bmatrix}"],
       ["\\begin{pmatrix}2\\\\1\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}", "3"], LATEX)
family("matrix", "\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}",
       ["\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}", "\\begin{bmatrix}1 & 0\\\\ 0 & 1\\end{bmatrix}"],
       ["\\begin{pmatrix}0&1\\\\1&0\\end{pmatrix}", "1"], LATEX)
family("infinity", "\\infty", ["\\infty", "+\\infty", "\\infty."], ["-\\infty", "0", "1000000"], LATEX)
family("infinity", "-\\infty", ["-\\infty"], ["\\infty", "-1"], LATEX)

# --- multiple choice -----------------------------------------------------------------
for letter, other in [("C", "B"), ("A", "D"), ("E", "C"), ("B", "A")]:
    family("choice", letter, [letter, f"({letter})", f"\\text{{({letter})}}", f"\\textbf{{{letter}}}",
                              f"{letter}."], [other, f"({other})", "\\text{(" + other + ")}"], LATEX)
family("choice", "(C)", ["C", "(C)", "\\text{C}", "\\mathrm{(C)}"], ["D", "\\text{(A)}"], LATEX)
family("choice", "\\text{(D)}", ["D", "(D)"], ["B"], LATEX)
family("choice", "B", ["B) 42", "(B) 42"], ["C) 42"], ["answer_colon", "final_line"])

# --- text answers ----------------------------------------------------------------------
family("text", "\\text{Monday}", ["\\text{Monday}", "Monday"], ["\\text{Tuesday}"], LATEX)
family("text", "\\text{even}", ["\\text{even}"], ["\\text{odd}"], LATEX)

# --- extraction: only the final answer counts ------------------------------------------
R = "The sum of 17 and 25 is 42, and the product 6 * 7 = 42. "
add(R + "So the answer is \\boxed{12}.", "12", "correct", "extraction")
add(R + "So the answer is \\boxed{12}.", "42", "incorrect", "extraction", note="42 only in reasoning")
add("<think>The answer is clearly \\boxed{42}.</think> I am not sure.", "42", "no_answer", "extraction",
    note="box only inside think")
add("<think>The answer is 42. Answer: 42</think>\nAnswer: 41", "42", "incorrect", "extraction")
add("<think>Answer: 41</think>\nAnswer: 42", "42", "correct", "extraction")
add("<think>I think it is \\boxed{7} but let me keep going and going", "7", "no_answer", "extraction",
    note="truncated inside think")
add(R + "\\boxed{\\boxed{12}}", "12", "correct", "extraction", note="box in box")
add(R + "\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}", "correct", "extraction",
    note="nested braces")
add(R + "\\boxed{\\left\\{ 1, 2 \\right\\}}", "\\{1,2\\}", "correct", "extraction")
add(R + "The answer is \\boxed{12", "12", "no_answer", "extraction", note="unclosed box")
add(R + "First guess \\boxed{11}. After checking, the answer is \\boxed{12}.", "12", "correct",
    "extraction", note="last box counts")
add(R + "First guess \\boxed{12}. After checking, the answer is \\boxed{11}.", "12", "incorrect",
    "extraction", note="last box counts")
add(R + "<answer>12</answer>", "12", "correct", "extraction")
add(R + "<answer>The area is \\boxed{12}</answer>", "12", "correct", "extraction")
add(R + "<answer>11</answer> and later <answer>12</answer>", "12", "correct", "extraction")
add(R + "\n#### 12", "12", "correct", "extraction")
add(R + "\n#### 1,234", "1234", "correct", "extraction")
add(R + "\n#### 13\n(12 was my first guess.)", "12", "incorrect", "extraction",
    note="text after the final answer does not count")
add(R + "\n#### 13\n(12 was my first guess.)", "13", "correct", "extraction")
add(R + "\n**Final Answer:** **73**", "73", "correct", "extraction", note="Math-Verify issue #76")
add(R + "\n✅ Final Answer: **73**", "73", "correct", "extraction", note="Math-Verify issue #76")
add("So the answer is \\boxed{840}.,but let me explain.\n\n**Final Answer**\n\\boxed{840}", "840",
    "correct", "extraction", note="Math-Verify issue #44")
add("The remainder is \\boxed{004}. So \\boxed{004} is correct.\n**Final Answer**\n\\boxed{004}", "4",
    "correct", "extraction", note="Math-Verify issue #44")
add(R + "The final answer is 12. I hope it is correct.", "12", "correct", "extraction")
add(R + "The final answer is $12$. Note that 42 appeared above.", "12", "correct", "extraction")
add(R + "The final answer is $12$. Note that 42 appeared above.", "42", "incorrect", "extraction",
    note="text after the final answer")
add(R, "42", "no_answer", "extraction", note="no marker; last-number fallback is off")
add("", "42", "no_answer", "extraction")
add("I don't know.", "42", "no_answer", "extraction")
add(R + "Answer: \\boxed{}", "42", "no_answer", "extraction")
add(R + "\\boxed 5", "5", "correct", "extraction", note="\\boxed with a space argument")
add(R + "\\fbox{5}", "5", "correct", "extraction")
add([{"role": "user", "content": "What is 6*7?"}, {"role": "assistant", "content": "\\boxed{42}"}],
    "42", "correct", "extraction", note="chat completion")
add("x" * 200_000 + " so \\boxed{9}", "9", "correct", "extraction", note="long completion")
add("The answer: 12", "12", "correct", "extraction")
add(R + "\n**Answer**: 12", "12", "correct", "extraction")
add(R + "\nAnswer: The final answer is 12.", "12", "correct", "extraction")
add(R + "\nFinal Answer: the answer is $\\frac{3}{4}$", "0.75", "correct", "extraction")
add("\\boxed{5} is what I first thought.\nFinal answer: 6", "5", "incorrect", "extraction",
    note="an explicit final answer after the last box is the final answer")
add("\\boxed{5} is what I first thought.\nFinal answer: 6", "6", "correct", "extraction")
add("So \\boxed{5}. The answer is the sum of both parts, as shown.", "5", "correct", "extraction",
    note="a loose 'the answer is' after the box is not a final answer")
add("So \\boxed{7}.\n\nFinal Answer: The final answer is $\\boxed{7}$", "7", "correct", "extraction")
add("\\boxed{7}\n#### 8", "8", "correct", "extraction")
add("Thus, the answer is $\\frac{3}{4}$.", "\\frac34", "correct", "extraction")

# --- reference handling --------------------------------------------------------------
S = "Therefore the answer is $\\boxed{{{}}}$."
for ref, ans in [
    ("\\boxed{2\\sqrt{3}}", "2\\sqrt3"),
    ("The solution: since x = 5, we get \\boxed{10}.", "10"),
    ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),
    ("$\\frac{1}{2}$", "0.5"),
    ("\\(3\\)", "3"),
    ("5.", "5"),
    ("\\$1,250", "1250"),
    ("10\\%", "0.1"),
    (["6", "-6"], "-6"),
    ({"answer": "7"}, "7"),
    (3.5, "\\frac{7}{2}"),
]:
    add(S.format(ans), ref, "correct", "reference")
for ref, ans in [("\\boxed{2\\sqrt{3}}", "2"), ("\\frac{\\sqrt2}{2}", "2"), ("2\\sqrt{3}", "3"),
                 ("#### 72", "7"), (["6", "-6"], "6, -6")]:
    add(S.format(ans), ref, "incorrect", "reference", hack=ans == "6, -6")
for ref in ["", "   ", None, "\\frac{", "garbage \\frac{", "\\boxed{}", [], {"foo": 1}, True]:
    add(S.format("1"), ref, "invalid_reference", "reference")

# --- hack resistance -----------------------------------------------------------------
H = "After careful analysis, the answer is $\\boxed{{{}}}$."
hacks = [
    ("1, 2", "1"), ("1, 2", "2"), ("\\{1, 2, 3, 4, 5\\}", "3"), ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10", "7"),
    ("2 \\text{ or } 3", "2"), ("2 \\text{ or } 3", "3"), ("2 or 3", "3"), ("x = 2 \\text{ or } x = 3", "2"),
    ("2 \\le x \\le 4", "3"), ("x > 2", "3"), ("1 < x < 100", "50"), ("[1, 100]", "50"),
    ("(0, \\infty)", "5"), ("\\pm 7", "7"), ("7, -7", "7"), ("3 \\text{ to } 5", "4"),
    ("\\text{between } 3 \\text{ and } 5", "4"), ("", "4"), ("x", "4"), ("\\text{the answer}", "4"),
    ("\\text{answer}", "4"), ("?", "4"), ("\\ldots", "4"), ("\\_\\_\\_", "4"), ("y", "4"),
    ("\\text{final answer}", "4"), ("A, B, C, D", "C"), ("A \\text{ or } C", "C"), ("ABCD", "C"),
    ("(A)(B)(C)", "C"), ("\\text{A or C}", "C"), ("1, 2", "\\frac{1}{2}"), ("0, 1, 2, 3", "\\{1,2\\}"),
    ("x^2 \\ge 0", "0"), ("n \\neq 3", "4"), ("2^{2^{2^{2^{2^{2}}}}}", "4"),
    ("10^{10^{10^{10}}}", "4"), ("9^{9^{9^{9}}}", "9"), ("99999999^{99999999}", "4"),
    ("\\frac{" * 120 + "1" + "}{2}" * 120, "1"), ("1+" * 3000 + "1", "3000"),
    ("(" * 400 + "1" + ")" * 400, "2"), ("100000!", "4"), ("((10^{9})!)!", "4"),
]
for ans, ref in hacks:
    add(H.format(ans), ref, "incorrect", "hack", hack=True)
add("\\boxed{3} \\boxed{4} \\boxed{5}", "3", "incorrect", "hack", hack=True, note="hedge across boxes")
add("\\boxed{3} \\boxed{4} \\boxed{5}", "4", "incorrect", "hack", hack=True, note="hedge across boxes")
add("It could be \\boxed{3}, or maybe \\boxed{4}.", "3", "incorrect", "hack", hack=True)
add("<answer>3</answer><answer>4</answer>", "3", "incorrect", "hack", hack=True)
add("<answer>A or B or C</answer>", "B", "incorrect", "hack", hack=True, note="Visual-RFT issue #79")
add("<answer></answer>", "B", "incorrect", "hack", hack=True, note="Visual-RFT issue #176")
add("<think>" + "2 3 4 5 6 7 8 9 " * 50 + "</think> no idea", "7", "no_answer", "hack", hack=True,
    note="numbers only inside think")
add("Answer: 3 or 4", "3", "incorrect", "hack", hack=True)
add("\\boxed{" + "9" * 300 + "}", "9", "incorrect", "hack", hack=True)
add("#### 3, 4", "3", "incorrect", "hack", hack=True)
add("The answer is \\boxed{4}" + " padding" * 50_000, "4", "correct", "hack",
    note="padding after a correct answer does not change it")
add(("I am confident. " * 30_000) + "\\boxed{\\text{the answer}}", "4", "incorrect", "hack", hack=True)

# --- more hedges and degenerate answers (written after probing the grader; labels by policy)
more_hacks = [
    ("5 \\text{ or more}", "5"), ("\\text{at least } 5", "5"), ("\\text{about } 5", "5"),
    ("\\text{between 4 and 6}", "5"), ("3 \\quad 4", "7"), ("3 \\; 4", "12"), ("3;4", "3"),
    ("\\text{The answer is 5 or 6}", "5"), ("\\text{5 apples or 6 apples}", "5"),
    ("\\pm\\sqrt{2}", "\\sqrt{2}"), ("x \\in \\{3, 4\\}", "3"), ("3 \\lor 4", "3"),
    ("\\infty", "5"), ("\\mathbb{R}", "5"), ("x = 5 = 6", "6"), ("3 = 5", "5"), ("5 \\neq 3", "5"),
    ("\\frac{0}{0}", "0"), ("\\emptyset", "0"), ("\\text{None}", "5"),
    ("\\{5, 6\\}", "(5,6)"), ("A, C", "C"), ("\\text{(C) or (D)}", "C"), ("C \\text{ or } D", "D"),
]
for ans, ref in more_hacks:
    add(H.format(ans), ref, "incorrect", "hack", hack=True)
for ans, ref, label in [
    ("5!", "120", "correct"), ("\\cos(\\pi/3)", "\\frac12", "correct"),
    ("6/\\sqrt{3}", "2\\sqrt{3}", "correct"), ("05", "5", "correct"), ("5,000", "5", "incorrect"),
    ("50,000,000", "50000000", "correct"), ("-5", "5", "incorrect"), ("5", "-5", "incorrect"),
    ("\\text{yes}", "\\text{Yes}", "correct"), ("\\text{no}", "\\text{Yes}", "incorrect"),
    ("2+3=5", "5", "correct"), ("\\{3\\}", "3", "correct"), ("1 \\text{ or } 2", "1, 2", "correct"),
    ("x^2 - 1", "(x-1)(x+1)", "correct"), ("x^2 + 1", "(x-1)(x+1)", "incorrect"),
    ("\\frac{x}{2}", "0.5x", "correct"), ("\\sqrt{x^2}", "|x|", "correct"),
    ("2^{100}+1", "2^{100}", "incorrect"), ("1000000.5", "1000000", "incorrect"),
    ("1024.0001", "2^{10}", "incorrect"), ("1024.0", "2^{10}", "correct"), ("4.0", "\\sqrt{16}", "correct"),
    ("3.14159265", "\\pi", "correct"), ("3.14", "\\pi", "incorrect"),
]:
    add(H.format(ans), ref, label, "adversarial")

# --- public grader bug reports (Math-Verify #14, #37, #60, #70 and others) -------------
public = [
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}", "incorrect"),
    ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}", "incorrect"),
    ("n=1, 2, 3", "n=2, 3, 4", "incorrect"),
    ("D = (0, 1.5)", "D = (0, 1)", "incorrect"),
    ("21, 36, and 82", "19, 46, \\text{ and } 82", "incorrect"),
    ("1 + \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{\\mathrm{e}}", "incorrect"),
    ("1 - \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{\\mathrm{e}}", "correct"),
    ("2021", "\\pm 2021", "incorrect"),
    ("\\frac{1}{3 \\cdot 2^{2006}}", "\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", "incorrect"),
    ("13", "\\text{13}", "correct"),
    ("3x+4y+14=0", "3x-y+13=0", "incorrect"),
    ("\\frac{9}{7}", "\\dfrac{9}{7}", "correct"),
    ("2", "2\\sqrt{3}", "incorrect"),
    ("2\\sqrt{3}", "2\\sqrt{3}", "correct"),
    ("\\{1,2,3,4\\}", "\\{1,3\\} \\cup \\{2,4\\}", "correct"),
    ("a=1 \\text{ or } a=-2", "1, -2", "correct"),
    ("a=1 \\text{ or } a=-2", "1", "incorrect"),
    ("0.333", "\\frac{1}{3}", "incorrect"),
    ("18.90", "\\$18.90", "correct"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{\\sqrt2}{2}", "correct"),
    ("1", "\\frac{\\sqrt2}{2}", "incorrect"),
    ("5\\sqrt{2}", "\\sqrt{50}", "correct"),
    ("5", "\\sqrt{50}", "incorrect"),
    ("4\\sqrt(2)", "4", "incorrect"),  # Math-Verify #41
    ("y = -\\frac{1}{2}x + \\frac{3}{4}", "2x+4y-3=0", "correct"),  # Math-Verify #26
    ("y = \\frac{1}{2}x + \\frac{3}{4}", "2x+4y-3=0", "incorrect"),
    ("12:00", "1:00", "incorrect"),  # Math-Verify #14
    ("1, 3, 5, \\ldots, 2n-1", "1, 2, \\ldots, n", "incorrect"),  # Math-Verify #14
]
for ans, ref, label in public:
    add(H.format(ans), ref, label, "public")

# degenerate long responses (verl PR #6673: one slow normalisation froze training)
add("The answer is " + "1/2 " * 100_000, "\\frac12", "incorrect", "public",
    note="degenerate repetition on the answer line")
add("\\boxed{" + "1+" * 200_000 + "1}", "200001", "incorrect", "public", note="megabyte answer")
add("So " + "\\frac{1}{" * 5000 + "2" + "}" * 5000 + " and \\boxed{3}", "3", "correct", "public",
    note="pathological reasoning, clean final answer")

# --- other projects' grader test cases (issue 12, item 9) ----------------------------------
# peer_cases.jsonl is written by adopt_peer_cases.py from the peers' own test files; every case
# keeps its source. The label is the peer's verdict; ``policy`` names the grading policy the
# case depends on (docs/math.md, "Policies beside the peers'"), or is None. Agreement on the
# non-policy cases is what the test requires (>= 99%, no false positive).
MARKER = re.compile(r"\\boxed|\\fbox|answer\s*(?:is|:)|final answer|####|<answer>", re.IGNORECASE)
WORDS = re.compile(r"(?<![\\A-Za-z{])[A-Za-z]{3,}")
CURRENCY_OR_UNIT = re.compile(
    r"€|£|¥|\\\$|m²|\^\s*\{?\\circ|°|\\degree|\\text\s*\{\s*(?:cm|m|km|kg|g|units?|square|degrees?|inches|"
    r"feet|dollars?|hours?|minutes?|seconds?|cents?|meters?)\b|\d\s*(?:cm|km|kg|mm|m|square units|units|"
    r"degrees|weeks|days|hours|dollars|cents|inches|feet|meters|miles)\b|\\text\w*\s*\{\s*(?:miles|meters)",
    re.IGNORECASE,
)
# Peers whose graders take an unmarked completion's last expression (math-verify's extraction);
# the others need a marker (a box), as rewardlab does by default.
LENIENT_PEERS = {"huggingface/Math-Verify", "huggingface/lighteval", "inclusionAI/AReaL",
                 "NVIDIA/NeMo-Skills", "MARIO-Math-Reasoning/MARIO_EVAL"}
DECIMAL_COMMA = re.compile(r"(?<![\d,])\d+,(?:\d{1,2}|\d{4,})(?![\d,])|(?<![\d,])0,\d+(?![\d,])")
# Why a peer's verdict differs by policy, for the cases below (checked by hand).
POLICY_WHY: dict[str, str] = {
    'free-text extraction':
        "the marked final answer is a sentence; the peer takes its last expression",
    'hack guard':
        "a chain with a false link (5+5+1 = 7): rewardlab refuses it, the peer takes the last side",
    'invalid reference':
        "the reference cannot be read (an unknown command, a form feed from an unescaped \\f in "
        "the test, empty): unscorable, not 0",
    'precision':
        "decimals rounded below six digits inside a matrix, list or expression, or truncated "
        "(125.663 for 40pi): the peer compares at its test's precision",
    'bounded cost':
        "the reference is a power tower (2^{1/2^{1000}}), refused before sympy",
    'answer form':
        "slime's sympy grader requires the fraction written the same way (2/4 is not 1/2); rewardlab compares values",
    'interval or vector':
        "a bracketed pair [0.5, 1] is an interval to rewardlab (and math-verify), a vector to MARIO_EVAL",
}
# Cases whose peer verdict rests on a policy the rules above do not see: (reference[:60],
# the peer's test, the answer[:60]) -> the policy.
POLICY_BY_HAND: dict[tuple[str, str, str], str] = {
    ("Since $25<30<36$, we have $5<\\sqrt{30}<6$. We also know that",
     "test_latex_notation_math",
     "We have that \\begin{align*} \\sqrt{30 } + \\sqrt{50 }&=\\sqrt{3"): 'free-text extraction',
    ("$120$",
     "test_math_extraction_edge_cases",
     "We can find the volume of pyramid $ABCH$ by using the formul"): 'free-text extraction',
    ("$19$",
     "test_math_extraction_additional_cases",
     "To find the maximum number of points in the domain of $f(x)$"): 'free-text extraction',
    ("$34$",
     "test_math_extraction_additional_cases",
     "Final Answer: The largest $n$ is 34."): 'free-text extraction',
    ("$x = 11$",
     "test_relations_math",
     "$x = 5+5+1 = 7 =11$"): 'hack guard',
    ("$x = 1/3$",
     "test_relations_math",
     "$x = 5+5+1 = 1/3 \\approx 11$"): 'hack guard',
    ("$z = 1 + 1 = 2$",
     "test_relations_math",
     "$z = 3+3 = 2$"): 'hack guard',
    ("$1 = \\zzz = x = 0$",
     "test_relations_math",
     "$0$"): 'invalid reference',
    ("$\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix",
     "test_complex_math_expressions",
     "$\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix"): 'invalid reference',
    ("",
     "test_grade_answer_verl_returns_false_on_empty_ground_truth",
     "\\boxed{42}"): 'invalid reference',
    ("$(\\begin{pmatrix}\\frac{1}{3}\\\\ \\frac{1}{5} \\end{pmatrix})$",
     "test_complex_math_expressions",
     "$\\begin{pmatrix}0.33\\\\0.2 \\end{pmatrix}$"): 'precision',
    ("x + 1.414I",
     "test_are_equal_under_sympy",
     "x + \\sqrt2I"): 'precision',
    ("1/3, 1.732, 3.1416",
     "test_is_equiv_real_or_list",
     "\\frac13, \\sqrt3, \\pi"): 'precision',
    ("125.663",
     "test_is_equiv_real_or_list",
     "40\\pi"): 'precision',
    ("[2^{\\frac{1}{2^{1000}}}, \\infty)",
     "test_is_equiv_interval",
     "[1,+\\infty)"): 'bounded cost',
    ("\\frac{1}{2}",
     "test_grade_answer_sympy_fraction_must_match_exactly",
     "\\frac{2}{4}"): 'answer form',
    ("[0.5, 1]",
     "test_is_equiv_matrix",
     "\\begin{matrix} \\frac12 \\\\ 1 \\end{matrix}"): 'interval or vector',

}


def _peer_policy(gold: str, pred: str, test: str, free_text: bool) -> str | None:
    both = f"{gold} \n {pred}"
    if pred.count("\\boxed") > 1 or gold.count("\\boxed") > 1:
        return "several boxes"
    if "%" in both:
        return "percent"
    if CURRENCY_OR_UNIT.search(both):
        return "units"
    if DECIMAL_COMMA.search(both):
        return "decimal comma"
    if "precision" in test:
        return "precision"
    if free_text:
        return "free-text extraction"
    return None


def _peer_completion(pred: str) -> tuple[str, bool]:
    """The completion for a peer's answer text, and whether it needs free-text extraction.

    A marked answer is used as written; a bare answer (one ``$…$`` span, or mathematics
    without words) is put in a box, as a completion would give it; anything else is free text.
    """
    text = pred.strip()
    if MARKER.search(text):
        return text, False
    span = re.fullmatch(r"\$+([^$]*)\$+", text)
    if span:
        return f"So the final answer is $\\boxed{{{span.group(1).strip()}}}$.", False
    if text and "$" not in text and not WORDS.search(re.sub(r"\\text\s*\{[^{}]*\}", "", text)):
        if re.search(r"(?<!\\)(?:\\\\)*\\$", text):  # a trailing backslash would escape the box's brace
            return f"So the final answer is:\nAnswer: {text}", False
        return f"So the final answer is $\\boxed{{{text}}}$.", False
    return text, True


for case in (json.loads(line) for line in Path(__file__).with_name("peer_cases.jsonl").open()):
    completion, free_text = _peer_completion(case["pred"])
    gold = case["gold"]
    policy = _peer_policy(str(gold), case["pred"], case["test"], free_text)
    policy = POLICY_BY_HAND.get((str(gold)[:60], case["test"], case["pred"][:60]), policy)
    why = POLICY_WHY.get(policy or "", "")
    rows.append({
        "id": f"peer-{len(rows):04d}", "completion": completion, "reference": gold,
        "expected": "correct" if case["peer"] else "incorrect", "family": "peer", "hack": False,
        "note": why, "peer": case["repo"], "policy": policy,
        "params": {"lenient": True} if free_text and case["repo"] in LENIENT_PEERS else {},
        "source": f"{case['repo']}@{case['commit'][:12]}:{case['path']}::{case['test']}",
    })

path = Path(__file__).with_name("math_corpus.jsonl")
with path.open("w") as f:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
print(f"wrote {len(rows)} cases to {path}")
