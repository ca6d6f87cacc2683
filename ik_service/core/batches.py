"""
Independent IK problems in one call, optionally on forked worker processes.

Each answer is what ``solve`` gives for that problem alone, whatever the order, batch
size or process count: problems share nothing, and each uses the same options (and its
own random seed). The one exception is a time budget that ends a solve, which depends on
the machine's load.

A batch runs on processes, not threads: a solve is mostly Python, which holds the GIL
(two threads measured slower than one). The caller solves its share and forks the other
processes, which read the batch from the memory they inherit; only their answers travel
back. The problems are split into contiguous chunks that shrink towards the end
(``_chunks``), and each process takes the next chunk not taken when it is free, so they
finish together. The caller working too, rather than waiting for as many workers, saves
a fork and moving its share's answers.
"""

from __future__ import annotations

from dataclasses import replace
import gc
import multiprocessing
import queue
import signal
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import InvalidSettingsError
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet
from .solver import IKResult, result_at, solve, SolverSettings, TIMEOUT

# The smallest chunk of problems a process takes: a chunk costs a worker a message back,
# and the last chunks decide how far apart the processes finish.
MIN_CHUNK = 16
# A worker whose chunk has not come back this long after the deadline [s] is stuck (a
# healthy one ends its solves by the deadline): it is stopped, and its problems answered
# as not started.
STUCK_AFTER = 5.0
# How often the caller asks ``cancel`` while it waits for a chunk [s].
CHECK_PERIOD = 0.05
# How long a process waits for the chunk counter [s]: longer means the process holding it
# was killed, and the chunks not taken are left to the caller.
COUNTER_WAIT = 1.0


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
    Solve independent problems on ``workers`` processes: this one and forked ones.

    seeds: (T, n), one per problem, or None (zeros). random_seeds (T,): each problem's
    ``random_seed`` (default: the ``random_seed`` of ``options``, for all). ``options``
    are those of ``solve`` (mode, settings, limits, active_joints, ...), the same for
    every problem. deadline: a ``time.perf_counter()`` instant [s]; no solve's time
    budget runs past it, and a problem not started by then is answered at its seed
    (stop reason 'timeout', 0 iterations). Returns one IKResult per problem, in order.

    Each process gets MIN_CHUNK problems or more, so a batch of up to 2 x MIN_CHUNK
    problems is solved in this process alone, whatever ``workers`` says. Problems a
    worker did not send back (it crashed or was killed) are solved here.

    ``cancel`` (an option of ``solve``) is asked by each solve in this process, and
    every CHECK_PERIOD while it waits for the workers: once it says so, the workers are
    stopped and the problems left are answered cancelled.
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
    cancel = options.pop('cancel', None)        # asked in this process only
    batch = _Batch(model, problems, seeds, random_seeds, deadline, options)
    results: list[Optional[IKResult]] = [None] * len(problems)
    # the first problem is solved here (below), and each process gets MIN_CHUNK or more
    processes = min(workers, (len(problems) - 1) // MIN_CHUNK)
    if processes > 1 and 'fork' in multiprocessing.get_all_start_methods():
        # The first problem is solved before forking: what it prepares (the seed table's
        # entries for its link, tens of ms; its layout and plan) is then inherited by every
        # worker, instead of being made again in each and lost when it exits.
        results[0] = batch.solve_one(0, cancel)
        _solve_on_team(batch, results, processes, cancel)
    # Here the problems no process answered: all of them without workers; once cancelled,
    # each answered as a solve cancelled at once; a stopped worker's, solved here (at
    # their seeds past the deadline)
    for k in (k for k, r in enumerate(results) if r is None):
        results[k] = batch.solve_one(k, cancel)
    return results


def _solve_on_team(batch: '_Batch', results: list, processes: int,
                   cancel: Optional[Callable[[], bool]]) -> None:
    """
    Solve problems 1.. on this process and ``processes - 1`` forked ones, into ``results``.

    Problems left None: those of a stopped worker or after a cancel, or all of them when
    no shared memory is left for the team's counter and queue.
    """
    try:
        team = _Team(batch, [(a + 1, b + 1) for a, b in _chunks(len(results) - 1, processes)],
                     processes - 1)
    except OSError:     # no shared memory for the counter and the queue
        return
    # The answers coming back are many small objects: collections over the caller's heap
    # while they arrive made the batch 10-12% slower (2 processes, 3 000 UR5 problems)
    collecting = gc.isenabled()
    gc.disable()
    try:
        team.share(results, cancel)
    finally:
        team.stop()
        if collecting:
            gc.enable()


class _Team:
    """
    This process and ``count`` forked workers, taking the chunks of a batch in turn.

    chunks: (first, end) ranges of problems. Each process takes the next chunk not taken
    (a counter in shared memory) until none is left; the workers send each chunk's
    answers back through a queue.
    """

    def __init__(self, batch: '_Batch', chunks: list, count: int):
        context = multiprocessing.get_context('fork')
        self.batch, self.chunks = batch, chunks
        self.counter = context.Value('l', 0)
        self.queue = context.Queue()
        self.workers = []
        for _ in range(count):
            worker = context.Process(target=_work, args=(self,), daemon=True)
            try:
                worker.start()
            except OSError:     # no process left to fork (a limit): the others take its share
                break
            self.workers.append(worker)

    def take(self) -> Optional[tuple[int, int]]:
        """Return the next chunk not taken, or None when none is left."""
        lock = self.counter.get_lock()
        if not lock.acquire(timeout=COUNTER_WAIT):
            return None
        try:
            i = self.counter.value
            self.counter.value = i + 1
        finally:
            lock.release()
        return self.chunks[i] if i < len(self.chunks) else None

    def share(self, results: list, cancel: Optional[Callable[[], bool]]) -> None:
        """
        Solve chunks here while the workers do, into ``results``.

        Then wait for the workers' chunks, asking ``cancel`` every CHECK_PERIOD. Stops
        when ``cancel`` says so, when every worker has exited, one ended with an error
        code (a crash or a kill), or one is not back STUCK_AFTER past the deadline: the
        problems not answered then stay None.
        """
        waiting = set(self.chunks)      # the chunks whose answers are not in results yet
        while (chunk := self.take()) is not None:
            for k in range(*chunk):
                results[k] = self.batch.solve_one(k, cancel)
                if cancel is not None and cancel():
                    return
            waiting.discard(chunk)
            while self._receive(results, waiting, None):    # what came back meanwhile
                pass
        deadline = self.batch.deadline
        while waiting:
            if cancel is not None and cancel():
                return
            if deadline is not None and time.perf_counter() > deadline + STUCK_AFTER:
                break
            if not self._receive(results, waiting, CHECK_PERIOD) and (
                    not any(w.is_alive() for w in self.workers)
                    or any(w.exitcode for w in self.workers)):
                break

    def _receive(self, results: list, waiting: set, timeout: Optional[float]) -> bool:
        """Put one chunk's answers from the workers into ``results``; False if none came."""
        try:
            chunk, answers = self.queue.get(timeout=timeout) if timeout else \
                self.queue.get(False)
        except queue.Empty:
            return False
        results[chunk[0]:chunk[1]] = answers
        waiting.discard(chunk)
        return True

    def stop(self) -> None:
        """
        Kill the workers still running (they exit on their own when no chunk is left).

        SIGKILL: a worker still starting has the caller's signal handlers (a node's
        shutdown handler, which would not end it).
        """
        for worker in self.workers:
            if worker.is_alive():
                worker.kill()
        self.queue.close()


def _work(team: _Team) -> None:
    """
    Solve the chunks this forked worker takes and send their answers back.

    A solve that raises ends the worker (exit code 1): the caller solves that chunk again
    and raises the error itself.
    """
    _set_up_worker()
    while (chunk := team.take()) is not None:
        team.queue.put((chunk, [team.batch.solve_one(k) for k in range(*chunk)]))


class _Batch:
    """The problems of one batch and how each is solved (in this process or a worker)."""

    def __init__(self, model, problems, seeds, random_seeds, deadline, options):
        self.model, self.problems, self.seeds = model, problems, seeds
        self.random_seeds, self.deadline, self.options = random_seeds, deadline, options

    def solve_one(self, k: int, cancel: Optional[Callable[[], bool]] = None) -> IKResult:
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
        return solve(self.model, self.problems[k], self.seeds[k], cancel=cancel,
                     random_seed=self.random_seeds[k], **options)


def _chunks(count: int, processes: int) -> list[tuple[int, int]]:
    """
    Split problems 0..count-1 into contiguous (first, end) chunks of shrinking size.

    Each chunk is the problems left divided by twice the processes, at least MIN_CHUNK:
    the large first chunks keep the messages few, the small last ones let the processes
    finish within a few problems of each other.
    """
    chunks, first = [], 0
    while first < count:
        end = min(count, first + max(MIN_CHUNK, (count - first) // (2 * processes)))
        chunks.append((first, end))
        first = end
    return chunks


def _set_up_worker() -> None:
    """
    Set up a forked worker: signals left to the parent, inherited objects frozen.

    The worker inherits the batch with its memory (a forked process's arguments are not
    copied). Ctrl-C is the parent's to handle (the worker dies with it instead of
    printing a traceback), and a termination signal ends the worker at once rather than
    running a handler the parent installed (a node's shutdown). What the worker inherits
    is frozen out of the garbage collector's reach (a collection would write to every
    inherited object, copying the parent's heap page by page), and the collector runs
    again on what the worker makes (the parent paused it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()
    gc.enable()
