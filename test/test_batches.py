"""Batches: answers as solved alone on any worker count, cancel, deadline, forked workers."""

import gc
import multiprocessing
import os
import signal
import threading
import time

from ik_service.core import batches, IKObjective, JointLimits, load_urdf_file, solve
from ik_service.core import solve_batch, SolverSettings
import numpy as np
from robots import ARMS, robot_path

UR5 = load_urdf_file(robot_path(ARMS['ur5'][0]))
LIMITS = JointLimits.from_model(UR5)


def _problems(count: int, rng) -> tuple[list, np.ndarray]:
    """UR5 tool poses of random configurations, and random seeds (count, 6)."""
    poses = UR5.forward_kinematics(LIMITS.sample(rng, np.zeros(6), count), 'tool0')
    problems = [[IKObjective.fixed_pose('tool0', t[:3, :3], t[:3, 3])] for t in poses]
    return problems, LIMITS.sample(rng, np.zeros(6), count)


def _searched_for(count: int, seconds: float, rng) -> tuple[list, np.ndarray, SolverSettings]:
    """
    Out-of-reach problems, seeds (count, 6) and settings that search each for ``seconds``.

    Global mode looks for the closest configuration until its time budget ends.
    """
    problems, seeds = _problems(count, rng)
    far = [[IKObjective.fixed_pose('tool0', p[0].target_rotation, [3.0, 0.0, 0.5])]
           for p in problems]
    return far, seeds, SolverSettings(timeout=seconds, max_restarts=10_000_000)


def _in_a_thread(work, seconds: float):
    """Run work() in a thread; return its value, or fail if it takes longer than seconds."""
    out = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f'still running after {seconds} s'
    return out[0]


def test_a_batch_in_any_order_on_any_worker_count_gives_the_answers_solved_alone():
    rng = np.random.default_rng(4)
    problems, seeds = _problems(40, rng)
    options = {'mode': 'global', 'random_seed': 7}
    alone = [solve(UR5, p, s, **options).q for p, s in zip(problems, seeds)]
    order = rng.permutation(40)
    for workers in (1, 2, 3):
        batch = solve_batch(UR5, [problems[k] for k in order], seeds[order], workers=workers,
                            **options)
        for k, result in zip(order, batch):
            assert np.array_equal(result.q, alone[k])
        assert all(r.success for r in batch)
    # the garbage collector, paused while the workers' answers come back, runs again
    assert gc.isenabled()
    gc.disable()            # and a caller's own choice is left as it was
    try:
        solve_batch(UR5, problems[:4], seeds[:4], workers=2, **options)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_each_problem_has_its_own_random_seed():
    rng = np.random.default_rng(6)
    problems, seeds = _problems(20, rng)
    random_seeds = list(range(100, 120))
    # a random start: the answer's branch depends on the random seed
    options = {'mode': 'local', 'random_start': True}
    alone = [solve(UR5, p, s, random_seed=r, **options).q
             for p, s, r in zip(problems, seeds, random_seeds)]
    for workers in (1, 2):
        batch = solve_batch(UR5, problems, seeds, workers=workers, random_seeds=random_seeds,
                            **options)
        assert all(np.array_equal(r.q, q) for r, q in zip(batch, alone))
    same_seed = solve_batch(UR5, problems, seeds, random_seed=100, **options)
    assert any(not np.array_equal(r.q, q) for r, q in zip(same_seed, alone))


def test_a_cancelled_batch_keeps_what_came_back_and_stops_its_workers():
    far, seeds, settings = _searched_for(100, 0.2, np.random.default_rng(5))
    started = time.perf_counter()          # 0.2 s a problem: seconds a chunk
    batch = solve_batch(UR5, far, seeds, workers=2, mode='global', settings=settings,
                        cancel=lambda: time.perf_counter() > started + 0.5)
    assert time.perf_counter() - started < 3.0      # not after the chunks being solved
    cancelled = [r.stop_reason == 'cancelled' for r in batch]
    # searched before the cancel: the caller's first problem and its chunk's next one
    # (0.2 s each); the worker's chunk (seconds) was not back, and is answered cancelled
    assert not cancelled[0] and cancelled.count(False) <= 2
    assert all(r.stop_reason == 'unreachable' for r, c in zip(batch, cancelled) if not c)
    # the caller's search under way when it came ends then; the others never started
    assert sum(r.iterations > 0 for r, c in zip(batch, cancelled) if c) <= 1
    time.sleep(1.0)
    assert not multiprocessing.active_children()


def test_no_solve_of_a_batch_runs_past_its_deadline():
    far, seeds, settings = _searched_for(30, 10.0, np.random.default_rng(8))
    for workers in (1, 2):
        started = time.perf_counter()
        batch = solve_batch(UR5, far, seeds, workers=workers, mode='global',
                            settings=settings, deadline=started + 0.5)
        assert time.perf_counter() - started < 3.0
        assert not any(r.success for r in batch)
        # one search per worker used the time; the problems after it were not started
        assert sum(r.iterations == 0 and r.stop_reason == 'timeout' for r in batch) >= \
            30 - workers
    # past the deadline nothing is solved: each answer is its seed as given
    problems, seeds = _problems(30, np.random.default_rng(8))
    batch = solve_batch(UR5, problems, seeds, workers=2, mode='global',
                        deadline=time.perf_counter())
    assert all(r.iterations == 0 and r.stop_reason == 'timeout' for r in batch)
    assert np.array_equal(np.array([r.q for r in batch]), seeds)


def test_a_worker_stuck_past_the_deadline_is_stopped_and_its_problems_answered(monkeypatch):
    rng = np.random.default_rng(9)
    problems, seeds = _problems(40, rng)
    monkeypatch.setattr(batches, 'STUCK_AFTER', 0.5)

    caller = os.getpid()

    def hangs_in_a_worker(q):       # a feasibility check that never returns there
        time.sleep(1000.0 if os.getpid() != caller else 0.01)     # the caller is slow:
        return True                                               # the worker takes chunks

    started = time.perf_counter()
    batch = _in_a_thread(lambda: solve_batch(
        UR5, problems, seeds, workers=2, mode='global', feasible=hangs_in_a_worker,
        deadline=started + 0.5), 30.0)
    assert len(batch) == 40
    stuck = [r.stop_reason == 'timeout' and r.iterations == 0 for r in batch]
    # the caller solved its chunks (those it started by the deadline); the worker's
    # chunk is answered at its seeds
    assert all(r.success for r, s in zip(batch, stuck) if not s)
    assert batch[0].success and 0 < sum(stuck) < 40
    assert all(np.array_equal(r.q, s) for r, s, t in zip(batch, seeds, stuck) if t)
    time.sleep(1.0)
    assert not multiprocessing.active_children()


def test_the_problems_of_a_worker_that_died_are_solved_by_the_caller(tmp_path):
    rng = np.random.default_rng(11)
    problems, seeds = _problems(60, rng)
    caller = os.getpid()

    def dies_in_a_worker(q):        # the worker is killed in its first solve
        if os.getpid() != caller:
            (tmp_path / str(os.getpid())).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.005)           # the caller is slow: the workers take chunks
        return True

    options = {'mode': 'global', 'random_seed': 3}
    alone = [solve(UR5, p, s, **options).q for p, s in zip(problems, seeds)]
    batch = _in_a_thread(lambda: solve_batch(UR5, problems, seeds, workers=3,
                                             feasible=dies_in_a_worker, **options), 30.0)
    assert list(tmp_path.iterdir())                 # a worker died, holding a chunk
    assert all(r.success for r in batch)
    assert all(np.array_equal(r.q, q) for r, q in zip(batch, alone))


def test_a_batch_that_cannot_fork_is_solved_by_the_caller(monkeypatch):
    rng = np.random.default_rng(12)
    problems, seeds = _problems(40, rng)
    options = {'mode': 'global', 'random_seed': 5}
    alone = [solve(UR5, p, s, **options).q for p, s in zip(problems, seeds)]

    def no_process_left(self):          # fork fails as at a process limit (EAGAIN)
        raise BlockingIOError(11, 'Resource temporarily unavailable')

    monkeypatch.setattr(multiprocessing.get_context('fork').Process, 'start', no_process_left)
    batch = _in_a_thread(lambda: solve_batch(UR5, problems, seeds, workers=2, **options), 20.0)
    assert all(np.array_equal(r.q, q) for r, q in zip(batch, alone))
    assert gc.isenabled()


def test_a_lock_held_by_another_thread_when_the_workers_fork_does_not_stop_them():
    rng = np.random.default_rng(10)
    problems, seeds = _problems(40, rng)
    caller = os.getpid()
    held, release = threading.Event(), threading.Event()

    def hold():                 # another thread of the caller, inside a cache of the model
        with UR5.objective_layouts._lock:
            held.set()
            release.wait(2.0)       # the caller's own solves wait for it meanwhile

    def then_hold(q):           # the caller's first solve is done: the workers fork next
        if os.getpid() == caller and not held.is_set():
            threading.Thread(target=hold, daemon=True).start()
            held.wait(10.0)
        return True

    try:
        # each worker's copy of that lock is held by a thread the worker does not have
        batch = _in_a_thread(lambda: solve_batch(UR5, problems, seeds, workers=2,
                                                 mode='global', feasible=then_hold), 20.0)
    finally:
        release.set()
    assert held.is_set() and all(r.success for r in batch)
