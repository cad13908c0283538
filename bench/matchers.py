"""``python -m bench.matchers``: a hostile regex against a plain match, on the matcher engine.

A tenant's silence ``v=~(a+)+`` and an alert whose ``v`` is ``n`` ``a``s followed by ``!`` make a
backtracking engine take 2**n steps. Matchers run on RE2, so the time stays linear in the value:
the figures are the hostile match's time at growing ``n`` divided by a plain ``team=~db|infra``
match timed in the same run (a ratio, comparable across machines), and for contrast Python's
own ``re`` on the same pattern at small ``n``, where its doubling per character shows.

Pure CPU in this process: no services.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence

from alerting.domain.matchers import Matcher

#: Lengths of the hostile value: the issue's 29, then far past where backtracking ends.
RE2_LENGTHS = (29, 1_000, 100_000)
#: Python's ``re`` doubles per character: these stay under a second or so.
BACKTRACKING_LENGTHS = (16, 18, 20)


def _per_call(fn: Callable[[], object], *, budget: float = 0.3) -> float:
    """Seconds per call: the best of a few rounds of as many calls as fit ``budget``."""
    fn()
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        spent = time.perf_counter() - started
        if spent >= budget / 5 or calls >= 1 << 20:
            break
        calls *= 2
    best = spent / calls
    for _ in range(4):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.matchers", description=__doc__)
    parser.parse_args(argv)
    plain = Matcher.parse("team=~db|infra")
    hostile = Matcher.parse("v=~(a+)+")
    baseline = _per_call(lambda: plain.matches({"team": "infra"}))
    print(f"plain match (team=~db|infra):            {baseline * 1e6:10.2f} µs   1.0x")
    for n in RE2_LENGTHS:
        facts = {"v": "a" * n + "!"}
        assert not hostile.matches(facts)
        took = _per_call(lambda facts=facts: hostile.matches(facts))
        print(
            f"RE2  v=~(a+)+ on {n:>7} a's + '!':      {took * 1e6:10.2f} µs {took / baseline:8.1f}x"
        )
    backtracking = re.compile("(a+)+")
    for n in BACKTRACKING_LENGTHS:
        value = "a" * n + "!"
        took = _per_call(lambda value=value: backtracking.fullmatch(value), budget=0.05)
        print(
            f"re   (a+)+    on {n:>7} a's + '!':      {took * 1e6:10.2f} µs "
            f"{took / baseline:8.1f}x  (Python's backtracking re, for contrast)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
