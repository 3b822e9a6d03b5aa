"""Worker processes for the benchmarks that run many independent trainings (tricks.py, recipes.py)."""
from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Optional


def run_in_pool(tasks: list, worker: Callable[[Any], Any], jobs: int, time_limit: Optional[float],
                on_result: Callable[[Any], None]) -> None:
    """``worker(task)`` for each task in ``jobs`` processes, in order; no task starts after ``time_limit``
    minutes (None: no limit); ``on_result`` gets each result in this process as soon as it is done."""
    t_start = time.time()
    queue = list(tasks)
    with ProcessPoolExecutor(max_workers=max(jobs, 1)) as pool:
        pending: list = []
        while queue or pending:
            while queue and len(pending) < max(jobs, 1):
                if time_limit is not None and time.time() - t_start > 60 * time_limit:
                    print(f"time limit: {len(queue)} runs not started", file=sys.stderr)
                    queue = []
                    break
                pending.append(pool.submit(worker, queue.pop(0)))
            if not pending:
                break
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.5)
                continue
            for f in finished:
                pending.remove(f)
                on_result(f.result())
