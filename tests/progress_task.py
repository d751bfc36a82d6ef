"""A task for the benchmark pool's progress-forwarding test (module level, so spawned workers can import it)."""

import time


def slow(steps: int, pause: float) -> int:
    from privgen.progress import progress

    bar = progress(total=steps, desc="inner loop")
    for _ in range(steps):
        time.sleep(pause)
        bar.update(1)
    bar.close()
    return steps
