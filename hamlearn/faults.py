"""Test-only fault injection: interrupt this process at a chosen, named point.

Interruption tests need the kill to land at a known place (a step that is *not*
checkpointed, a record just written), not wherever a timer happens to fire. The code calls
`fault_point(name)` at a few places; it does nothing unless ``$HAMLEARN_FAULT`` asks for a
fault there: ``NAME:N:SIGNAL`` (comma-separated for several) sends ``SIGNAL`` at the N-th
call of ``NAME`` in this process. ``KILL`` is SIGKILL to this process (what ``kill -9``
does); ``INT`` is SIGINT to this process's group (what a terminal's Ctrl-C does, workers
included). Points: ``train_step`` (after a step is logged, before any checkpoint of it),
``checkpoint_blob`` (a checkpoint's leaves written, its JSON not yet), ``record`` (a
reference record written to the cache), ``record_tmp`` (a record's temporary file
written, not yet renamed into place).

Example:
    HAMLEARN_FAULT=train_step:5:KILL python scripts/train.py ...   # dies after step 5
"""

from __future__ import annotations

import os
import signal

_ENV = "HAMLEARN_FAULT"
_counts: dict[str, int] = {}


def _plan() -> dict[str, tuple[int, str]]:
    spec = os.environ.get(_ENV, "")
    out = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        try:
            name, n, sig = item.split(":")
            out[name] = (int(n), sig.upper())
        except ValueError:
            raise ValueError(f"{_ENV}={spec!r}: expected NAME:N:KILL|INT items") from None
    return out


def fault_point(name: str) -> None:
    """Count a call of ``name``; interrupt the process if ``$HAMLEARN_FAULT`` says so."""
    if _ENV not in os.environ:
        return
    plan = _plan().get(name)
    _counts[name] = _counts.get(name, 0) + 1
    if plan is None or _counts[name] != plan[0]:
        return
    if plan[1] == "KILL":
        os.kill(os.getpid(), signal.SIGKILL)
    elif plan[1] == "INT":
        os.killpg(os.getpgid(0), signal.SIGINT)
    else:
        raise ValueError(f"{_ENV}: unknown signal {plan[1]!r} (KILL or INT)")
