"""rewardlab's ``sql.execution`` versus the usual execution-match loop, in one run.

    python -m benchmarks.sql [--groups 125] [--group 8] [--rows 1400000] [--db PATH] [--workers 2] [--slices 5]

The benchmark builds (once, then reuses) an SQLite database of about 100 MB: orders
(1.4 M rows, indexed by day and customer), customers and products. It makes GRPO
groups of 8 completions per question (125 questions: 1,000 candidates), each with a
fenced query: the gold text itself, an equivalent rewrite, two wrong queries and one
that fails, and 40% of each group repeating one of those (3 or 4 repeats per group).
Every candidate is labelled by construction.

The usual loop, per candidate: open a connection, run the gold, run the candidate,
compare the sorted row lists. rewardlab: ``Engine.run`` over the 1,000 samples on a
warm pool whose caches have never seen these golds. The two run over the same five
slices of whole groups, alternating which goes first, so load changes hit both.
Printed: seconds and candidates/s of each, the ratio, agreement with the labels,
and how many times each executed a gold query.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from rewardlab.core import Sample, Score
from rewardlab.engine import Engine
from rewardlab.rewards.sql import SqlExecution

DAYS = 1000
CUSTOMERS = 50_000
PRODUCTS = 10_000
COUNTRIES = ["France", "Germany", "Japan", "Brazil", "India", "Kenya", "Peru", "Canada", "Chile", "Spain"]


def build_db(path: Path, rows: int, seed: int = 0) -> Path:
    """The benchmark database (about 100 MB at 1.4 M orders); kept and reused if it matches."""
    if path.exists():
        conn = sqlite3.connect(path)
        try:
            if conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone() == (str(rows),):
                return path
        except sqlite3.Error:
            pass
        finally:
            conn.close()
        path.unlink()
    rng = random.Random(seed)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, country TEXT, segment TEXT);
        CREATE TABLE products (id INTEGER PRIMARY KEY, category TEXT, brand TEXT, price REAL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, product_id INTEGER,
                             qty INTEGER, price REAL, day INTEGER, note TEXT);
        CREATE TABLE meta (key TEXT, value TEXT);
    """)
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                     ((i, f"customer {i}", rng.choice(COUNTRIES), rng.choice("ABCD")) for i in range(CUSTOMERS)))
    conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?)",
                     ((i, f"cat{i % 40}", f"brand{i % 300}", round(rng.uniform(1, 500), 2)) for i in range(PRODUCTS)))
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", (
        (i, rng.randrange(CUSTOMERS), rng.randrange(PRODUCTS), rng.randint(1, 9), round(rng.uniform(1, 500), 2),
         rng.randrange(DAYS), f"note {rng.getrandbits(64):x}") for i in range(rows)))
    conn.executescript("CREATE INDEX orders_day ON orders(day); CREATE INDEX orders_customer ON orders(customer_id);")
    conn.execute("INSERT INTO meta VALUES ('rows', ?)", (str(rows),))
    conn.commit()
    conn.close()
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Question:
    gold: str
    right: str  # an equivalent rewrite
    wrong: tuple[str, str]
    failing: str


def question(rng: random.Random) -> Question:
    kind = rng.randrange(3)
    if kind == 0:
        d, k = rng.randrange(DAYS - 20), rng.randint(5, 15)
        return Question(
            f"SELECT c.country, count(*) AS n, sum(o.qty * o.price) AS revenue FROM orders o "
            f"JOIN customers c ON c.id = o.customer_id WHERE o.day BETWEEN {d} AND {d + k} GROUP BY c.country",
            f"SELECT country, COUNT(o.id), SUM(o.price * o.qty) FROM customers JOIN orders o "
            f"ON o.customer_id = customers.id WHERE o.day >= {d} AND o.day <= {d + k} GROUP BY country "
            f"ORDER BY 3 DESC",
            (f"SELECT c.country, count(*), sum(o.qty * o.price) FROM orders o JOIN customers c "
             f"ON c.id = o.customer_id WHERE o.day BETWEEN {d} AND {d + k - 1} GROUP BY c.country",
             f"SELECT c.country, count(DISTINCT o.customer_id), sum(o.qty * o.price) FROM orders o "
             f"JOIN customers c ON c.id = o.customer_id WHERE o.day BETWEEN {d} AND {d + k} GROUP BY c.country"),
            f"SELECT country, revenue FROM orders WHERE day = {d}",
        )
    if kind == 1:
        d = rng.randrange(DAYS)
        return Question(
            f"SELECT customer_id, sum(qty) AS total FROM orders WHERE day = {d} "
            f"GROUP BY customer_id ORDER BY total DESC, customer_id LIMIT 10",
            f"SELECT o.customer_id, SUM(o.qty) FROM orders AS o WHERE o.day = {d} "
            f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
            (f"SELECT customer_id, sum(qty) AS total FROM orders WHERE day = {d} "
             f"GROUP BY customer_id ORDER BY total, customer_id LIMIT 10",
             f"SELECT customer_id, count(*) AS total FROM orders WHERE day = {d} "
             f"GROUP BY customer_id ORDER BY total DESC, customer_id LIMIT 10"),
            f"SELECT customer_id, sum(qty) FROM orders WHERE day = {d} GROUP BY customer ORDER BY 2 DESC LIMIT 10",
        )
    a = rng.randrange(CUSTOMERS - 400)
    return Question(
        f"SELECT p.category, avg(o.price) FROM orders o JOIN products p ON p.id = o.product_id "
        f"WHERE o.customer_id BETWEEN {a} AND {a + 300} GROUP BY p.category ORDER BY p.category",
        f"SELECT p.category, sum(o.price) / count(o.price) FROM products p JOIN orders o ON o.product_id = p.id "
        f"WHERE o.customer_id >= {a} AND o.customer_id <= {a + 300} GROUP BY p.category ORDER BY 1",
        (f"SELECT p.category, avg(p.price) FROM orders o JOIN products p ON p.id = o.product_id "
         f"WHERE o.customer_id BETWEEN {a} AND {a + 300} GROUP BY p.category ORDER BY p.category",
         f"SELECT p.category, avg(o.price) FROM orders o JOIN products p ON p.id = o.product_id "
         f"WHERE o.customer_id BETWEEN {a + 1} AND {a + 300} GROUP BY p.category ORDER BY p.category"),
        f"SELECT p.category, avg(o.price) FROM orders o JOIN products p ON p.id = o.product_id "
        f"WHERE o.customer_id BETWEEN {a} AND {a + 300} GROUP BY category ORDER BY p.category HAVING",
    )


def completion(rng: random.Random, sql: str) -> str:
    thought = " ".join(rng.choice(["We join", "the orders", "by day", "then group", "and sum."]) for _ in range(30))
    return f"<think>{thought}</think>\n```sql\n{sql}\n```"


def corpus(rng: random.Random, groups: int, size: int, db: str) -> list[tuple[Sample, bool]]:
    """Groups of ``size`` with 40% repeats: 3 repeats in four groups of five, 4 in the fifth."""
    rows: list[tuple[Sample, bool]] = []
    for g in range(groups):
        q = question(rng)
        distinct = [(q.gold, True), (q.right, True), (q.wrong[0], False), (q.wrong[1], False), (q.failing, False)]
        repeats = 4 if g % 5 == 4 else 3
        distinct = distinct[: size - repeats] if size - repeats < len(distinct) else distinct
        picks = distinct + [rng.choice(distinct) for _ in range(size - len(distinct))]
        rng.shuffle(picks)
        texts = {sql: completion(rng, sql) for sql, _ in distinct}
        rows += [(Sample(f"{g}-{i}", completion=texts[sql], reference={"sql": q.gold, "db": db}, group=str(g)), ok)
                 for i, (sql, ok) in enumerate(picks)]
    return rows


_FENCE = re.compile(r"```sql\n(.*?)```", re.DOTALL)


def usual_loop(samples: list[Sample]) -> list[bool]:
    """Per candidate: connect, run gold and candidate, compare sorted lists (one gold run per candidate)."""
    verdicts = []
    for s in samples:
        found = _FENCE.search(s.completion_text)
        conn = sqlite3.connect(s.reference["db"])
        try:
            gold = conn.execute(s.reference["sql"]).fetchall()
            try:
                pred = conn.execute(found.group(1)).fetchall() if found else None
                verdicts.append(pred is not None and sorted(gold) == sorted(pred))
            except (sqlite3.Error, TypeError):
                verdicts.append(False)
        finally:
            conn.close()
    return verdicts


def timed_pair(samples: list[Sample], group: int, engine: Engine, reward: SqlExecution, slices: int,
               ) -> tuple[list[Score], float, list[bool], float]:
    """Both methods over the same slices of whole groups, alternating which goes first in each slice,
    so that a change in the machine's load falls on both alike."""
    groups = len(samples) // group
    bounds = [round(i * groups / slices) * group for i in range(slices + 1)]
    scores: list[Score] = []
    verdicts: list[bool] = []
    ours = theirs = 0.0
    for i in range(slices):
        part = samples[bounds[i]:bounds[i + 1]]
        for who in ((0, 1) if i % 2 == 0 else (1, 0)):
            start = time.perf_counter()
            if who == 0:
                scores += engine.run(reward, part)
                ours += time.perf_counter() - start
            else:
                verdicts += usual_loop(part)
                theirs += time.perf_counter() - start
    return scores, ours, verdicts, theirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=125)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--rows", type=int, default=1_400_000, help="orders rows (1.4 M: about 100 MB)")
    ap.add_argument("--db", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "rewardlab-bench-sql.sqlite"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slices", type=int, default=5, help="alternate the two methods over this many slices")
    args = ap.parse_args()
    t0 = time.perf_counter()
    db = build_db(Path(args.db), args.rows)
    print(f"database {db}: {db.stat().st_size / 1e6:.1f} MB (ready in {time.perf_counter() - t0:.1f} s)")
    rows = corpus(random.Random(args.seed), args.groups, args.group, str(db))
    samples, labels = [s for s, _ in rows], [ok for _, ok in rows]
    distinct = len({(s.completion, s.reference["sql"]) for s in samples})
    print(f"{len(samples)} candidates in {args.groups} groups of {args.group}; "
          f"{len(samples) - distinct} repeats ({(len(samples) - distinct) / len(samples):.0%})")

    reward = SqlExecution()
    with Engine(workers=args.workers, timeout=60.0) as engine:
        warm = Sample("warm", completion="SELECT 1", reference={"sql": "SELECT 1", "db": str(db)})
        engine.run(reward, [warm])  # start the workers (not timed); every group's gold is new to them
        scores, ours, verdicts, theirs = timed_pair(samples, args.group, engine, reward, args.slices)
    computed = [s for s in scores if s.elapsed > 0]  # deduplicated copies carry elapsed 0
    our_golds = sum(1 for s in computed if s.detail.get("gold_cached") is False)
    our_agree = sum((s.value == 1.0) == ok for s, ok in zip(scores, labels, strict=True)) / len(labels)
    their_golds = len(samples)
    their_agree = sum(v == ok for v, ok in zip(verdicts, labels, strict=True)) / len(labels)

    n = len(samples)
    print(f"usual loop : {theirs:7.2f} s  {n / theirs:7.1f} candidates/s  gold executions {their_golds:5d}  "
          f"label agreement {their_agree:.4f}")
    print(f"rewardlab  : {ours:7.2f} s  {n / ours:7.1f} candidates/s  gold executions {our_golds:5d}  "
          f"label agreement {our_agree:.4f}  ({args.workers} workers)")
    print(f"ratio      : {theirs / ours:.2f}x (goal >= 4x)")


if __name__ == "__main__":
    main()
