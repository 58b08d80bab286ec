"""The small chaos session of `make chaos`: 10 releases, 3 SIGKILLs, faults on 20 % of calls.

The sandbox and `enigma serve` run as processes of their own; the service is killed with
SIGKILL at random moments and restarted over the same data directory. Each run releases its
own fix version, so the sandbox's effect log may hold no key twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.chaos import run_chaos


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_release_succeeds_once_through_kills_and_faults(tmp_path: Path) -> None:
    result = run_chaos(tmp_path, runs=10, kills=3, seed=3, timeout=200)
    print(result.summary())

    assert result.kills == 3
    assert result.faults > 0
    assert result.succeeded == 10, result.summary()
    assert result.duplicates == {}, result.summary()
    assert result.missing == [], result.summary()
