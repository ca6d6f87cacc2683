"""
Independent IK problems in one call, optionally on forked worker processes.

Each answer is what ``solve`` gives for that problem alone, whatever the order, batch
size or worker count: problems share nothing, and each uses the same options (and its
own random seed). The one exception is a time budget that ends a solve, which depends on
the machine's load.

Workers are processes, not threads: a solve is mostly Python, which holds the GIL (two
threads measured slower than one). They are forked, so they
read the batch from the memory they inherit; only the answers travel back. The problems
go out in contiguous chunks that shrink towards the end (``_chunks``): each worker takes
the next chunk when it is free, so the workers finish together.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, TimeoutError as FuturesTimeout
from dataclasses import replace
import gc
import multiprocessing
import signal
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import InvalidSettingsError
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet
from .solver import IKResult, result_at, solve, SolverSettings, TIMEOUT

# The smallest chunk of problems handed to a worker: a chunk costs the worker a message
# each way, and the last chunks decide how far apart the workers finish.
MIN_CHUNK = 16
# A worker whose chunk has not come back this long after the deadline [s] is stuck (a
# healthy one ends its solves by the deadline): it is stopped, and its problems answered
# as not started.
STUCK_AFTER = 5.0
# How often the caller asks ``cancel`` while it waits for a chunk [s].
CHECK_PERIOD = 0.05


def solve_batch(
    model: RobotModel,
    objectives_per_target: Sequence[Sequence[IKObjective] | ObjectiveSet],
    seeds: Optional[np.ndarray] = None,
    *,
    workers: int = 1,
    random_seeds: Optional[Sequence[int]] = None,
    deadline: Optional[float] = None,
    **options,
) -> list[IKResult]:
    """
    Solve independent problems, on up to ``workers`` forked processes.

    seeds: (T, n), one per problem, or None (zeros). random_seeds (T,): each problem's
    ``random_seed`` (default: the ``random_seed`` of ``options``, for all). ``options``
    are those of ``solve`` (mode, settings, limits, active_joints, ...), the same for
    every problem. deadline: a ``time.perf_counter()`` instant [s]; no solve's time
    budget runs past it, and a problem not started by then is answered at its seed
    (stop reason 'timeout', 0 iterations). Returns one IKResult per problem, in order.

    Each worker gets MIN_CHUNK problems or more, so a batch of up to 2 x MIN_CHUNK
    problems is solved in this process, whatever ``workers`` says.

    ``cancel`` (an option of ``solve``) is asked by each solve in this process; with
    workers it is asked in this process while it waits for them (every CHECK_PERIOD):
    once it says so, the workers are stopped and the problems left are answered
    cancelled.
    """
    problems = list(objectives_per_target)
    if seeds is None:
        seeds = np.zeros((len(problems), model.num_dofs))
    seeds = np.asarray(seeds, dtype=float)
    if seeds.shape != (len(problems), model.num_dofs):
        raise InvalidSettingsError(
            f'seeds must be ({len(problems)}, {model.num_dofs}), one per problem; got '
            f'{seeds.shape}')
    default_seed = options.pop('random_seed', 0)
    if random_seeds is None:
        random_seeds = [default_seed] * len(problems)
    elif len(random_seeds) != len(problems):
        raise InvalidSettingsError(
            f'random_seeds must have one value per problem ({len(problems)}); got '
            f'{len(random_seeds)}')
    # the first problem is solved here (below), and each worker gets MIN_CHUNK or more
    workers = min(workers, (len(problems) - 1) // MIN_CHUNK)
    if workers <= 1 or 'fork' not in multiprocessing.get_all_start_methods():
        return _Batch(model, problems, seeds, random_seeds, deadline, options).solve(
            0, len(problems))
    cancel = options.pop('cancel', None)        # a worker cannot call back
    batch = _Batch(model, problems, seeds, random_seeds, deadline, options)
    # The first problem is solved here: what it prepares (the seed table's entries for its
    # link, tens of ms; its layout and plan) is then inherited by every worker, instead
    # of being made again in each and lost when it exits.
    results = [batch.solve_one(0)]
    # The results coming back are many small objects: collections over the caller's heap
    # while they arrive would take the workers' cores (the batch ran 15-20% slower)
    collecting = gc.isenabled()
    gc.disable()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('fork'),
                               initializer=_set_up_worker, initargs=(batch,))
    try:
        futures = [pool.submit(_solve_chunk, first + 1, end + 1)
                   for first, end in _chunks(len(problems) - 1, workers)]
        answers, cancelled = _answers(pool, futures, cancel, deadline)
        results += answers
    finally:
        # the workers exit on their own: nothing here waits for them
        pool.shutdown(wait=False, cancel_futures=True)
        if collecting:
            gc.enable()
    left = range(len(results), len(problems))
    if cancelled:       # each answered as solve answers when cancelled at once
        return results + [solve(model, problems[k], seeds[k], cancel=cancel,
                                random_seed=random_seeds[k], **options) for k in left]
    return results + [batch.solve_one(k) for k in left]     # at their seeds


class _Batch:
    """The problems of one batch and how each is solved (in this process or a worker)."""

    def __init__(self, model, problems, seeds, random_seeds, deadline, options):
        self.model, self.problems, self.seeds = model, problems, seeds
        self.random_seeds, self.deadline, self.options = random_seeds, deadline, options

    def solve(self, first: int, end: int) -> list[IKResult]:
        """Solve problems first..end-1, each within what is left of the deadline."""
        return [self.solve_one(k) for k in range(first, end)]

    def solve_one(self, k: int) -> IKResult:
        """Solve problem k, within what is left of the deadline (at its seed past it)."""
        options = self.options
        if self.deadline is not None:
            left = self.deadline - time.perf_counter()
            settings = options.get('settings', SolverSettings())
            if left <= 0:
                return result_at(self.model, self.problems[k], self.seeds[k], TIMEOUT,
                                 settings=settings, limits=options.get('limits'),
                                 active_joints=options.get('active_joints'))
            if settings.timeout > left:
                options = {**options, 'settings': replace(settings, timeout=left)}
        return solve(self.model, self.problems[k], self.seeds[k],
                     random_seed=self.random_seeds[k], **options)


def _answers(pool: ProcessPoolExecutor, futures: list, cancel: Optional[Callable[[], bool]],
             deadline: Optional[float]) -> tuple[list[IKResult], bool]:
    """
    Collect the workers' answers in order; return them and whether ``cancel`` ended that.

    ``cancel`` is asked every CHECK_PERIOD while a chunk is awaited. When it says so, or
    when a chunk is not back STUCK_AFTER past the deadline, the workers are stopped and
    the answers so far returned.
    """
    answers: list[IKResult] = []
    for future in futures:
        while True:
            if cancel is not None and cancel():
                _stop_workers(pool)     # nobody waits for what they are making
                return answers, True
            if deadline is not None and time.perf_counter() > deadline + STUCK_AFTER:
                _stop_workers(pool)
                return answers, False
            try:
                answers.extend(future.result(timeout=CHECK_PERIOD))
                break
            except FuturesTimeout:
                pass
    return answers, False


def _chunks(count: int, workers: int) -> list[tuple[int, int]]:
    """
    Split problems 0..count-1 into contiguous (first, end) chunks of shrinking size.

    Each chunk is the problems left divided by twice the workers, at least MIN_CHUNK: the
    large first chunks keep the messages few, the small last ones let the workers finish
    within a few problems of each other.
    """
    chunks, first = [], 0
    while first < count:
        end = min(count, first + max(MIN_CHUNK, (count - first) // (2 * workers)))
        chunks.append((first, end))
        first = end
    return chunks


_BATCH: Optional[_Batch] = None     # in a worker: the batch it was forked for


def _set_up_worker(batch: _Batch) -> None:
    """
    Set up a forked worker: its batch, signals left to the parent, inherited objects frozen.

    The worker inherits ``batch`` with its memory (a forked process's arguments are not
    copied). Ctrl-C is the parent's to handle (the worker dies with it instead of
    printing a traceback), and a termination signal ends the worker at once rather than
    running a handler the parent installed (a node's shutdown). What the worker inherits
    is frozen out of the garbage collector's reach (a collection would write to every
    inherited object, copying the parent's heap page by page), and the collector runs
    again on what the worker makes (the parent paused it).
    """
    global _BATCH
    _BATCH = batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()
    gc.enable()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes (Python 3.14 has this as ``terminate_workers``)."""
    terminate = getattr(pool, 'terminate_workers', None)
    if terminate is not None:
        terminate()
        return
    for process in list(getattr(pool, '_processes', {}).values()):
        process.terminate()


def _solve_chunk(first: int, end: int) -> list[IKResult]:
    """Solve problems first..end-1 of the batch this worker was forked with."""
    return _BATCH.solve(first, end)
