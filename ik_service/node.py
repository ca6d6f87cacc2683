"""
The ik_service ROS 2 node: services solve_ik and compute_residual over the core solver.

A thin layer: it keeps the robot model and the latest joint states, turns requests into
core calls (``ik_service.conversions``) and core results into responses.

Threads: one executor thread takes requests, parameters and topics and spends at most
ANSWER_AT_ONCE_WAIT on a solve: it answers a SolveIK or ComputeResidual that ends within
that time itself, and a longer one (or a path, a batch, or any request while the workers
are all busy) runs on a pool of ``solver_threads`` workers and is awaited; descriptions
from the topic and seed tables are built on a background thread, so long solves and
large robots never starve the parameter services or /joint_states. (One executor thread
answers a call 0.2-0.5 ms sooner than rclpy's MultiThreadedExecutor;
``bench/service_overhead.py``.) At most
``limits.max_pending_requests`` requests wait for a worker (beyond, SERVICE_BUSY). A solve
stops early when the node shuts down or no client of its service is left. The model is
swapped by reference, so a request always sees one whole model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
import faulthandler
from functools import lru_cache
import gc
import os
import signal
import threading
import time
import traceback
from typing import Callable, Optional

from ik_interfaces.msg import BatchAnswer, ResultCode
from ik_interfaces.srv import ComputeResidual, SolveIK, SolveIKBatch, SolveIKPath
from ik_service import conversions as conv
from ik_service import request_limits
from ik_service.core import (
    GLOBAL,
    IKError,
    InvalidSettingsError,
    JointLimits,
    load_urdf_file,
    load_urdf_string,
    LOCAL,
    NEARBY,
    ObjectiveSet,
    residual_and_jacobian,
    RobotModel,
    solve,
    solve_batch,
    URDFError,
)
from ik_service.core import kernel_warm_up, solver as core_solver
from ik_service.core.branches import labelled_solutions, solve_on_branch
from ik_service.core.errors import MAX_MAGNITUDE
from ik_service.core.paths import DEFAULT_MAX_STEP, solve_path
from ik_service.core.seed_table import SeedTable
from ik_service.joint_state_cache import JointStateCache
from ik_service.markers import solve_markers
from ik_service.parameters import (description_limits, PARAMETERS, solver_settings, SPECS,
                                   unknown_parameters, validate, validate_together)
from ik_service.stream import TargetStream
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

_MODES = {
    SolveIK.Request.MODE_LOCAL: LOCAL,
    SolveIK.Request.MODE_GLOBAL: GLOBAL,
    SolveIK.Request.MODE_NEARBY: NEARBY,
}
_STOP = {
    core_solver.CONVERGED: SolveIK.Response.STOP_CONVERGED,
    core_solver.MAX_ITERATIONS: SolveIK.Response.STOP_MAX_ITERATIONS,
    core_solver.STALLED: SolveIK.Response.STOP_STALLED,
    core_solver.TIMEOUT: SolveIK.Response.STOP_TIMEOUT,
    core_solver.RESTARTS_EXHAUSTED: SolveIK.Response.STOP_RESTARTS_EXHAUSTED,
    core_solver.UNREACHABLE: SolveIK.Response.STOP_UNREACHABLE,
    core_solver.CANCELLED: SolveIK.Response.STOP_CANCELLED,
}
_MODEL_PARAMETERS = ('robot_description', 'robot_description_file')
SERVICE_QUEUE_DEPTH = 1000
# A solve asks the graph whether its client is still there at most this often [s], and
# not before it has run this long.
CLIENT_CHECK_PERIOD = 0.05
# Leaf links whose seed-table entries are built when a model loads (more on first use).
PREPARED_LEAF_LINKS = 8
# /joint_states values this far [rad or m] beyond a joint's URDF limits are taken as
# readings (and clipped into the limits); further out they are no value.
JOINT_STATE_LIMIT_SLACK = 0.1
MAX_MESSAGE_LENGTH = 2000
# The executor thread spends this long [s] on a request's solve before it hands it to a
# worker and takes other work: most solves end within it, and answering them on the
# executor thread saves waking a worker and the executor again (bench/service_overhead.py).
ANSWER_AT_ONCE_WAIT = 0.002
# The executor thread looks for SIGINT / SIGTERM this often [s].
SIGNAL_CHECK_PERIOD = 0.1


class WorkerHandoff:
    """
    A response a worker fills, waited for on the executor thread, then awaited if need be.

    ``wait`` blocks (the GIL released, so the worker starts at once) until the worker
    finishes or a timeout; ``finish_later`` hands over an rclpy Future the worker will set,
    unless it finished meanwhile.
    """

    def __init__(self, response):
        self._response, self._finished = response, threading.Event()
        self._lock, self._later = threading.Lock(), None

    def finish(self) -> None:
        """Mark the response filled (the worker calls this) and set the awaited Future."""
        with self._lock:
            self._finished.set()
            later = self._later
        if later is not None:
            later.set_result(self._response)

    def wait(self, timeout: float) -> bool:
        """Wait up to timeout [s] for the worker; return whether it finished."""
        return self._finished.wait(timeout)

    def finish_later(self, later: Future) -> bool:
        """Have the worker set ``later``; return True (and keep it unset) if it finished."""
        with self._lock:
            if self._finished.is_set():
                return True
            self._later = later
            return False


class _OnAWorker(Exception):
    """A request filled on the executor thread would take long there: a worker fills it."""


class _AtOnce:
    """
    The cancel check of a request filled on the executor thread: True past its time.

    ``over`` tells whether the time ran out (the fill is then abandoned); ``cancel``: the
    request's own check (client gone, shutdown).
    """

    def __init__(self, cancel: Callable[[], bool], seconds: float):
        self._cancel, self._deadline, self.over = cancel, time.perf_counter() + seconds, False

    def __call__(self) -> bool:
        if time.perf_counter() >= self._deadline:
            self.over = True
        return self.over or self._cancel()


class StartupError(Exception):
    """The node cannot start as configured (a parameter typo, a bad value)."""


class IKServiceNode(Node):
    """Answers SolveIK and ComputeResidual for the robot in robot_description."""

    def __init__(self, **kwargs) -> None:
        super().__init__('ik_service', **kwargs)
        self._values = self._declare_parameters()
        self._settings = solver_settings(self._values)     # follows the parameters
        self._model: Optional[RobotModel] = None
        self._model_problem = (
            'no robot model yet: set robot_description or robot_description_file, '
            'or publish on the robot_description topic'
        )
        self._joint_states = JointStateCache()
        self._ignored_joint_states: set = set()     # joints already warned about
        self._stopping = threading.Event()
        self._workers = ThreadPoolExecutor(self._values['solver_threads'], 'ik_solver')
        self._background = ThreadPoolExecutor(1, 'ik_background')    # descriptions, seed tables
        # the compiled solver kernel, from its cache (~0.3 s), before the services exist:
        # the first requests would otherwise wait for it
        self.get_logger().info(f'solver kernel ready in {kernel_warm_up.warm_up():.2f} s')
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._duplicate_warned = False

        self.add_on_set_parameters_callback(self._on_set_parameters)
        services = ReentrantCallbackGroup()
        topics = MutuallyExclusiveCallbackGroup()
        # Best effort matches both reliable and best-effort publishers.
        self.create_subscription(
            JointState,
            self._values['joint_states_topic'],
            self._on_joint_state,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT),
            callback_group=topics,
        )
        if self._values['robot_description_topic']:
            self.create_subscription(
                String,
                self._values['robot_description_topic'],
                self._on_description,
                QoSProfile(
                    depth=1,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL,
                    reliability=ReliabilityPolicy.RELIABLE,
                ),
                callback_group=topics,
            )
        self._load_from_parameters(self._values)
        self.get_logger().info(f'ik_service from {os.path.dirname(os.path.abspath(__file__))}')
        # Reliable with a deeper history than the default 10: requests from many clients
        # queue while solves run, and unacknowledged responses must not be overwritten.
        service_qos = QoSProfile(depth=SERVICE_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self._solve_service = self.create_service(
            SolveIK, 'solve_ik', self._solve_ik, qos_profile=service_qos,
            callback_group=services)
        self._residual_service = self.create_service(
            ComputeResidual, 'compute_residual', self._compute_residual,
            qos_profile=service_qos, callback_group=services)
        self._path_service = self.create_service(
            SolveIKPath, 'solve_ik_path', self._solve_ik_path, qos_profile=service_qos,
            callback_group=services)
        self._batch_service = self.create_service(
            SolveIKBatch, 'solve_ik_batch', self._solve_ik_batch, qos_profile=service_qos,
            callback_group=services)
        # What RViz shows: each answer's targets and achieved frames, and each solution
        # (for a second robot_state_publisher drawing a ghost robot). Built only while
        # someone subscribes.
        self._markers = self.create_publisher(MarkerArray, '~/markers', 10)
        self._solutions = self.create_publisher(JointState, '~/solution', 10)
        self.create_timer(2.0, self._check_duplicate_nodes, callback_group=topics)
        self._stream = (TargetStream(self, self._values, lambda: self._model,
                                     self._plausible_joint_states,
                                     lambda: self._settings, _STOP)
                        if self._values['stream.target_topic'] else None)

    def _declare_parameters(self) -> dict:
        """Declare every parameter; StartupError for unknown names and bad values."""
        try:
            for spec in PARAMETERS:
                self.declare_parameter(spec.name, spec.default, spec.descriptor())
        except ParameterException as e:
            raise StartupError(f'bad parameter value: {e}') from None
        unknown = unknown_parameters(getattr(self, '_parameter_overrides', {}))
        if unknown:
            raise StartupError(
                'unknown parameter(s) ' + ', '.join(unknown) + ' (from --params-file or -p); '
                'see `ros2 param list` or the README for the names')
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name, value in values.items():
            problem = validate(name, value)
            if problem:
                raise StartupError(f'parameter {problem}')
        problem = validate_together(values)
        if problem:
            raise StartupError(f'parameters: {problem}')
        return values

    def shutdown(self) -> None:
        """
        Stop running solves at their next iteration, drop queued ones and wait for them.

        Every thread's work is bounded (solves by their cancel check and budget, the
        background by the description limits), so this returns within one solve's
        iteration and one seed-table link; afterwards nothing publishes or answers.
        """
        self._stopping.set()
        if self._stream is not None:
            self._stream.stop()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._background.shutdown(wait=True, cancel_futures=True)

    def _shutting_down(self) -> bool:
        """Tell whether the node is stopping (also when a signal shut rclpy's context down)."""
        return self._stopping.is_set() or not self.context.ok()

    def _check_duplicate_nodes(self) -> None:
        """Log an error while another node has this node's name (answers would split)."""
        me = (self.get_name(), self.get_namespace())
        count = sum(1 for entry in self.get_node_names_and_namespaces() if tuple(entry) == me)
        if count > 1 and not self._duplicate_warned:
            self.get_logger().error(
                f'{count} nodes are named {self.get_fully_qualified_name()}: service calls '
                'reach any of them. Give each a namespace or a name (-r __node:=...)')
        self._duplicate_warned = count > 1

    # ------------------------------------------------------------------ robot model
    @property
    def model(self) -> Optional[RobotModel]:
        """Return the current robot model, or None until one was loaded."""
        return self._model

    def _set_model(self, model: RobotModel, source: str) -> None:
        self._joint_states.restrict_to(model.joint_names)
        self._ignored_joint_states = set()
        self._model = model      # one reference swap: a request sees the old or the new model
        self._in_background(self._prepare_seed_table, model)
        for w in model.warnings:
            self.get_logger().warning(f'{source}: {w}')
        self.get_logger().info(
            f'robot {model.name!r} from {source}: {model.num_dofs} joints '
            f'({", ".join(model.joint_names)}), root {model.root_link!r}'
        )

    def _prepare_seed_table(self, model: RobotModel) -> None:
        """
        Build the seed-table entries of a new model's end effectors, in the background.

        Global solves start from a table of configurations; building a link's entries
        takes tens of milliseconds, better spent here than in the first request (which
        builds what it needs itself if it comes first). A few leaf links only: robots with
        hundreds get the others on first use. Skipped once a newer model replaced it.
        """
        if self._model is not model or self._stopping.is_set():
            return
        leaves = [model.link_id(n) for n in model.leaf_links]
        moved = [i for i in leaves if model.link_frame[i] >= 0][:PREPARED_LEAF_LINKS]
        SeedTable.of(model).prepare(moved)

    @staticmethod
    def _model_from(values: dict, at_start: bool = True) -> tuple[Optional[RobotModel], str]:
        limits = description_limits(values)
        if values['robot_description']:
            return (load_urdf_string(values['robot_description'], limits),
                    'parameter robot_description')
        if values['robot_description_file']:
            path = values['robot_description_file']
            if path.endswith('.xacro') and not at_start and not values['allow_xacro_at_run_time']:
                raise URDFError(
                    f'{path!r} is a xacro file, and xacro runs Python from the file; after '
                    'start-up only .urdf files are loaded (expand it with xacro first, or '
                    'start the node with allow_xacro_at_run_time:=true)')
            return load_urdf_file(path, limits=limits), f'file {path}'
        return None, ''

    def _load_from_parameters(self, values: dict) -> None:
        try:
            model, source = self._model_from(values)
        except URDFError as e:
            self._model_problem = f'robot description could not be loaded: {e}'
            self.get_logger().error(self._model_problem)
            return
        if model is not None:
            self._set_model(model, source)

    def _on_description(self, msg: String) -> None:
        self._in_background(self._load_description, msg.data)

    def _in_background(self, work: Callable, *args) -> None:
        """Run ``work(*args)`` on the background thread, unless the node is shutting down."""
        try:
            if not self._stopping.is_set():
                self._background.submit(work, *args)
        except RuntimeError:        # shut down meanwhile: the pool takes no more work
            pass

    def _load_description(self, text: str) -> None:
        """Load a description from the topic (on the background thread: it may be large)."""
        try:
            self._set_model(
                load_urdf_string(text, description_limits(self._values)),
                'topic ' + self._values['robot_description_topic']
            )
        except URDFError as e:
            self.get_logger().error(f'ignoring robot_description message: {e}')
            if self._model is None:
                self._model_problem = f'robot description from the topic could not be loaded: {e}'

    def _on_set_parameters(self, params) -> SetParametersResult:
        values = dict(self._values)
        for p in params:
            problem = validate(p.name, p.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
            values[p.name] = p.value
        problem = validate_together(values)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        try:
            settings = solver_settings(values)     # raises if the combination is invalid
        except InvalidSettingsError as e:
            return SetParametersResult(successful=False, reason=str(e))
        if any(p.name in _MODEL_PARAMETERS for p in params):
            try:
                model, source = self._model_from(values, at_start=False)
            except URDFError as e:
                self.get_logger().error(f'robot description refused: {e}')
                return SetParametersResult(successful=False, reason=str(e))
            if model is not None:
                self._set_model(model, source)
        self._values, self._settings = values, settings
        return SetParametersResult(successful=True)

    def _require_model(self) -> RobotModel:
        model = self._model
        if model is None:
            raise URDFError(self._model_problem)
        return model

    # ------------------------------------------------------------------ joint states
    def _on_joint_state(self, msg: JointState) -> None:
        if not self._joint_states.update(msg.name, msg.position, time.monotonic()):
            self.get_logger().warning(
                f'ignoring a JointState with {len(msg.name)} names and '
                f'{len(msg.position)} positions',
                throttle_duration_sec=5.0,
            )

    def _current_configuration(
        self, model: RobotModel, request_state, what: str, limits: JointLimits
    ) -> np.ndarray:
        """Layer the default seed (zeros in limits), /joint_states and the request state."""
        request_limits.check_joint_list(f'{what}.name', request_state.name, self._values,
                                        request_state.position)
        requested = conv.joint_values(model, request_state.name, request_state.position, what)
        current = self._plausible_joint_states(model)
        return conv.configuration(model, limits.clip(np.zeros(model.num_dofs)), current, requested)

    def _seed_source(self, model: RobotModel, request_state) -> str:
        """Say where a seed's values came from, for a failure message."""
        given = set(request_state.name)
        if given >= set(model.joint_names):
            return 'the request'
        known = set(self._plausible_joint_states(model)) - given
        if known:
            return 'the request and /joint_states' if given else '/joint_states'
        return ('the request, the rest zeros clipped into the limits' if given else
                'zeros clipped into the limits: no /joint_states received')

    def _plausible_joint_states(self, model: RobotModel) -> dict:
        """
        Return the latest /joint_states of the model's joints, without implausible values.

        A value more than JOINT_STATE_LIMIT_SLACK beyond the joint's URDF limits (or
        beyond +-1e6 for an unbounded joint) is no reading of this robot: it counts as no
        value for that joint (the default seed is used), with one warning per joint.
        """
        current = self._joint_states.positions(
            self._values['joint_state_timeout'], time.monotonic()
        )
        plausible = {}
        for name, value in current.items():
            k = model.joint_index.get(name)
            if k is None:
                continue
            slack = JOINT_STATE_LIMIT_SLACK
            lo, hi = model.lower[k] - slack, model.upper[k] + slack
            if lo <= value <= hi and abs(value) <= MAX_MAGNITUDE:
                plausible[name] = value
            elif name not in self._ignored_joint_states:
                self._ignored_joint_states.add(name)
                self.get_logger().warning(
                    f'/joint_states gives {name} = {value:g}, outside its limits '
                    f'[{model.lower[k]:g}, {model.upper[k]:g}]; not used as seed until it is '
                    'back within them')
        return plausible

    # ------------------------------------------------------------------ services
    async def _solve_ik(self, request: SolveIK.Request, response: SolveIK.Response):
        # all solutions and branches are worked out after the solve, past its time check
        return await self._queued(self._fill_solve, request, response, self._solve_service,
                                  at_once=not (request.all_solutions or request.branch))

    async def _compute_residual(self, request, response):
        return await self._queued(self._fill_residual, request, response,
                                  self._residual_service, at_once=True)

    async def _solve_ik_path(self, request, response):
        return await self._queued(self._fill_path, request, response, self._path_service)

    async def _solve_ik_batch(self, request, response):
        return await self._queued(self._fill_batch, request, response, self._batch_service)

    async def _queued(self, fill, request, response, service, at_once: bool = False):
        """
        Run ``fill`` on a solver thread, or answer SERVICE_BUSY when too many wait.

        at_once: a request that finds a worker free is first filled on this (the executor)
        thread, for up to ANSWER_AT_ONCE_WAIT; one that takes longer is abandoned there
        and filled anew on a worker (a solve's answer does not depend on where it ran).
        """
        started = time.perf_counter()
        with self._pending_lock:
            busy = self._pending >= self._values['limits.max_pending_requests']
            if not busy:
                self._pending += 1
            worker_free = self._pending <= self._values['solver_threads']
        if busy:
            response.success = False
            response.result_code.val = ResultCode.SERVICE_BUSY
            response.message = (
                f'{self._values["limits.max_pending_requests"]} requests are already waiting '
                '(parameter limits.max_pending_requests); try again later')
            return response
        if at_once and worker_free:
            filled = self._filled_at_once(fill, request, response, service, started)
            if filled is not None:
                with self._pending_lock:
                    self._pending -= 1
                return filled
            response = type(response)()     # what was filled is abandoned with it
        handoff = WorkerHandoff(response)

        def work() -> None:
            try:
                cancel = self._cancel_check(service.srv_name, started)
                if cancel():
                    self._fill_cancelled(response)
                else:
                    self._guarded(fill, request, response, started, cancel)
            finally:
                with self._pending_lock:
                    self._pending -= 1
                handoff.finish()

        try:
            self._workers.submit(work)
        except RuntimeError:        # shutting down: the pool takes no more work
            with self._pending_lock:
                self._pending -= 1
            self._fill_cancelled(response)
            return response
        # A short path or batch that starts at once is answered from this thread (no second
        # wake-up of the executor); a longer or queued one is awaited while the executor
        # goes on, and so is a solve this thread gave up (it already spent the wait).
        if worker_free and not at_once and handoff.wait(ANSWER_AT_ONCE_WAIT):
            return response
        later = Future(executor=self.executor)
        later.add_done_callback(lambda _: None)   # wakes the executor when a worker sets it
        if handoff.finish_later(later):
            return response
        return await later

    def _filled_at_once(self, fill, request, response, service, started: float):
        """
        Fill a request on this thread within ANSWER_AT_ONCE_WAIT; return it, or None if not.

        Most solves end well within the wait, and answering them here spares two thread
        wake-ups (0.17-0.2 ms a call, ``bench/service_overhead.py``). The executor waited
        as long for a worker's answer before, so other requests wait no longer than they
        did. A link's first global solve, which builds its seed-table entries, goes to a
        worker at once.
        """
        cancel = _AtOnce(self._cancel_check(service.srv_name, started), ANSWER_AT_ONCE_WAIT)
        try:
            self._guarded(fill, request, response, started, cancel)
        except _OnAWorker:
            return None
        return None if cancel.over else response

    def _cancel_check(self, service_name: str, started: float) -> Callable[[], bool]:
        """
        Return a callable telling whether to abandon a request.

        True once the node shuts down (also when a signal shut rclpy's context down
        before ``shutdown`` ran), or when no client of ``service_name`` is left (asked of
        the ROS graph at most every CLIENT_CHECK_PERIOD, from the moment the request has
        waited or run that long). rclpy does not tell a service which client sent a
        request, so one client leaving is noticed only when it was the last.
        """
        last = [started]
        gone = [False]
        count_clients = getattr(self, 'count_clients', None)

        def cancelled() -> bool:
            if self._stopping.is_set():
                return True
            now = time.perf_counter()
            if count_clients is not None and now - last[0] >= CLIENT_CHECK_PERIOD:
                last[0] = now
                if not self.context.ok():
                    return True
                try:
                    gone[0] = count_clients(service_name) == 0
                except RuntimeError:    # rclpy's RCLError: the context went down meanwhile
                    return True
            return gone[0]
        return cancelled

    @staticmethod
    def _fill_cancelled(response) -> None:
        response.success = False
        response.result_code.val = ResultCode.PREEMPTED
        response.message = 'abandoned: the client left or the node is shutting down'
        if hasattr(response, 'stop_reason'):
            response.stop_reason = SolveIK.Response.STOP_CANCELLED

    def _guarded(self, fill, request, response, started: float, cancel):
        try:
            fill(request, response, cancel)
        except _OnAWorker:
            raise
        except IKError as e:
            response.success = False
            response.result_code.val = conv.result_code_for(e)
            response.message = str(e)
        except Exception as e:  # a request must never take the node down
            self.get_logger().error(f'internal error: {traceback.format_exc()}')
            response.success = False
            response.result_code.val = ResultCode.FAILURE
            response.message = f'internal error in ik_service: {type(e).__name__}'
        if len(response.message) > MAX_MESSAGE_LENGTH:
            response.message = response.message[:MAX_MESSAGE_LENGTH] + '...'
        if hasattr(response, 'solve_time'):
            response.solve_time = conv.seconds_to_duration(time.perf_counter() - started)
        return response

    def _request_settings(self, model: RobotModel, req) -> tuple:
        """
        Return (mode, SolverSettings, max_deviation, JointLimits) of a SolveIK-like request.

        Zeros mean the node's parameters; raises the IKError whose code fits a bad value
        (active_joints and joint_limits beyond limits.max_names included).
        """
        values = self._values
        for what, names in (('active_joints', req.active_joints),
                            ('joint_limits', [jl.joint for jl in req.joint_limits])):
            request_limits.check_joint_list(what, names, values)
        if req.mode != SolveIK.Request.MODE_DEFAULT and req.mode not in _MODES:
            raise InvalidSettingsError(
                f'mode {req.mode} is not one of MODE_DEFAULT(0), MODE_LOCAL(1), '
                'MODE_GLOBAL(2), MODE_NEARBY(3)'
            )
        mode = _MODES.get(req.mode, values['mode'])
        given = {name: value for name, value in (
            ('tolerance', req.tolerance), ('max_iterations', req.max_iterations),
            ('timeout', conv.duration_to_seconds(req.timeout)),
            ('max_restarts', req.max_restarts)) if value != 0}
        settings = replace(self._settings, **given) if given else self._settings
        request_limits.check_budget(settings.timeout, settings.max_restarts, values)
        max_deviation = req.max_deviation if req.max_deviation != 0 else values['max_deviation']
        if not np.isfinite(max_deviation) or max_deviation < 0:
            raise InvalidSettingsError(
                f'max_deviation must be > 0 (rad or m), got {req.max_deviation}'
            )
        limits = JointLimits.from_model(
            model,
            values['joint_limit_margin'],
            {jl.joint: (jl.lower, jl.upper) for jl in req.joint_limits},
            enabled=not req.ignore_joint_limits,
        )
        return mode, settings, max_deviation, limits

    def _fill_solve(self, req: SolveIK.Request, res: SolveIK.Response, cancel) -> None:
        model = self._require_model()
        values = self._values
        request_limits.check_objectives(req.pose_targets, req.objectives, values)
        request_limits.check_branch(req.branch)
        objectives = conv.objectives_from_request(req.pose_targets, req.objectives)
        problem = ObjectiveSet(model, objectives)
        if req.seed_mode not in (SolveIK.Request.SEED_CURRENT, SolveIK.Request.SEED_RANDOM):
            raise InvalidSettingsError(
                f'seed_mode {req.seed_mode} is not SEED_CURRENT(0) or SEED_RANDOM(1)'
            )
        mode, settings, max_deviation, limits = self._request_settings(model, req)
        seed = self._current_configuration(model, req.seed, 'seed', limits)
        bias = None
        if req.bias.name or req.bias.position:
            request_limits.check_joint_list('bias.name', req.bias.name, values, req.bias.position)
            bias = conv.configuration(
                model, seed, conv.joint_values(model, req.bias.name, req.bias.position, 'bias')
            )
        active_joints = list(req.active_joints) or None
        if isinstance(cancel, _AtOnce) and mode == GLOBAL and not SeedTable.of(
                model).is_prepared(problem.constrained_links,
                                   core_solver.active_dofs(problem, active_joints).nonzero()[0]):
            # a link's first global solve builds its seed-table entries (tens of ms): on a
            # worker, not on the thread that takes every request and topic
            raise _OnAWorker()
        result = solve(
            model,
            problem,
            seed,
            mode=mode,
            settings=settings,
            limits=limits,
            active_joints=active_joints,
            bias=bias,
            max_deviation=max_deviation,
            random_seed=req.random_seed,
            random_start=req.seed_mode == SolveIK.Request.SEED_RANDOM,
            cancel=cancel,
        )
        if result.stop_reason == core_solver.CANCELLED:     # nobody waits for the answer
            self._fill_cancelled(res)
            return
        closed = core_solver.closed_form_of(problem, active_joints, limits)
        every = labelled_solutions(problem, seed, limits, active_joints, settings.tolerance) \
            if closed is not None and (req.all_solutions or req.branch) else None
        if req.branch:
            result = solve_on_branch(problem, seed, req.branch, settings=settings,
                                     limits=limits, active_joints=active_joints,
                                     solutions=every)

        res.success = result.success
        res.result_code.val = _result_code(result)
        res.stop_reason = _STOP[result.stop_reason]
        res.solution.name = list(model.joint_names)
        res.solution.position = conv.float64_array(result.q)
        note = ''
        if closed is not None:
            (res.branch,), (near,) = closed[0].describe(result.q)
            if near and result.success:
                note = (f'; near the {" and ".join(near)} singularity: small tool motions '
                        'need large joint motions here, and branches meet')
        if req.all_solutions:
            if every is None:
                note += ('; all_solutions: no closed form for this target and chain (one '
                         'pose target on a 6R arm such as UR or a spherical wrist, a 5R arm '
                         'EAIK knows, or a planar arm; one point on a planar 2R chain)')
            else:
                names = list(model.joint_names)
                res.all_solutions = [JointState(name=names, position=conv.float64_array(r))
                                     for r in every.q]
                res.all_solution_branches = every.labels
                note += f'; all_solutions: {len(every.q)} inside the limits'
                singular = sum(1 for kinds in every.near if kinds)
                if singular:
                    note += (f', {singular} of them near a singular configuration (solutions '
                             'there crowd together; exactly on it, a joint motion keeps the pose)')
        res.solution.header.stamp = self.get_clock().now().to_msg()
        self._publish_answer(model, objectives, result, res.solution)
        res.residual = conv.float64_array(result.residual)
        res.objective_errors = conv.objective_error_msgs(objectives, result.objective_errors)
        res.joints_at_limit = result.joints_at_limit
        res.iterations = result.iterations
        res.restarts = result.restarts
        res.message = _describe(result, objectives, settings) + note
        if not result.success:
            res.message += f'; seed from {self._seed_source(model, req.seed)}'
            if mode == NEARBY:
                res.message += (f'; nearby mode: no joint moved more than {max_deviation:g} '
                                'from it (joints "at a limit" may be at that box)')
        res.effective_config = _effective_config(
            mode, settings, float(max_deviation) if mode == NEARBY else None,
            values['joint_limit_margin'], bool(req.ignore_joint_limits), req.seed_mode,
            tuple(result.active_joints), model.name
        ) + f'random_seed: {int(req.random_seed)}\n'

    def _publish_answer(self, model: RobotModel, objectives, result, solution: JointState):
        """Publish the markers of an answer, and its solution when it is one."""
        if self._shutting_down():       # the publishers may be gone already
            return
        try:
            if self._markers.get_subscription_count():
                self._markers.publish(
                    solve_markers(model, objectives, result.q, solution.header.stamp))
            if result.success and self._solutions.get_subscription_count():
                self._solutions.publish(solution)
        except Exception:       # what is drawn must not cost the answer
            if self._shutting_down():
                return
            self.get_logger().error(f'publishing the answer failed: {traceback.format_exc()}',
                                    throttle_duration_sec=10.0)

    def _fill_batch(self, req: SolveIKBatch.Request, res: SolveIKBatch.Response,
                    cancel) -> None:
        """
        Solve independent problems, each as SolveIK would with the same settings.

        On ``batch_workers`` processes, the node's and forked ones (``core.solve_batch``).
        A problem whose objectives or seed are refused is answered with its own error; the
        batch ends by limits.max_timeout (problems not started by then are answered
        TIMED_OUT).
        """
        model = self._require_model()
        values = self._values
        request_limits.check_batch(req.problems, values)
        mode, settings, max_deviation, limits = self._request_settings(model, req)
        active_joints = list(req.active_joints) or None
        deadline = time.perf_counter() + values['limits.max_timeout']
        res.joint_names = list(model.joint_names)
        answers = [BatchAnswer() for _ in req.problems]
        problems, seeds, random_seeds, solved = [], [], [], []
        for k, p in enumerate(req.problems):
            try:
                objectives = conv.objectives_from_request(p.pose_targets, p.objectives)
                problem = ObjectiveSet(model, objectives)
                seeds.append(self._current_configuration(model, p.seed, 'seed', limits))
            except IKError as e:
                answers[k].result_code.val = conv.result_code_for(e)
                answers[k].message = f'problems[{k}]: {e}'[:MAX_MESSAGE_LENGTH]
                continue
            problems.append(problem)
            random_seeds.append(p.random_seed)
            solved.append(k)
        results = solve_batch(
            model, problems, np.array(seeds).reshape(-1, model.num_dofs),
            workers=values['batch_workers'], random_seeds=random_seeds, deadline=deadline,
            mode=mode, settings=settings, limits=limits, active_joints=active_joints,
            max_deviation=max_deviation, cancel=cancel)
        for k, problem, result in zip(solved, problems, results):
            answer = answers[k]
            if result.stop_reason == core_solver.CANCELLED:
                self._fill_cancelled(answer)
                continue
            answer.success = result.success
            answer.result_code.val = _result_code(result)
            answer.stop_reason = _STOP[result.stop_reason]
            if result.stop_reason == core_solver.TIMEOUT and result.iterations == 0:
                answer.message = (f'not solved: the batch reached limits.max_timeout '
                                  f'({values["limits.max_timeout"]:g} s)')
                continue
            answer.positions = conv.float64_array(result.q)
            answer.residual = conv.float64_array(result.residual)
            answer.objective_errors = conv.objective_error_msgs(problem.objectives,
                                                                result.objective_errors)
            answer.message = _describe(result, problem.objectives, settings)
        res.answers = answers
        count = sum(a.success for a in answers)
        res.success = count == len(answers)
        res.result_code.val = ResultCode.SUCCESS if res.success else ResultCode.NO_IK_SOLUTION
        res.message = f'{count} of {len(answers)} problems solved'

    def _fill_path(self, req: SolveIKPath.Request, res: SolveIKPath.Response, cancel) -> None:
        """Solve a path with ``core.solve_path``; the whole path within limits.max_timeout."""
        model = self._require_model()
        values = self._values
        request_limits.check_waypoints(req.waypoints, values)
        request_limits.check_joint_list('active_joints', req.active_joints, values)
        waypoints = conv.waypoints_from_request(req.waypoints)
        for k, objectives in enumerate(waypoints):      # unknown links, with the waypoint
            try:
                ObjectiveSet(model, objectives)
            except IKError as e:
                raise type(e)(f'waypoints[{k}]: {e}') from None
        timeout = conv.duration_to_seconds(req.timeout)
        settings = replace(self._settings,
                           tolerance=req.tolerance or values['tolerance'],
                           timeout=timeout or values['timeout'])
        request_limits.check_budget(settings.timeout, 0, values)
        max_step = req.max_step or DEFAULT_MAX_STEP
        if not 0 < max_step < float('inf') or not (req.max_cartesian_step >= 0):
            raise InvalidSettingsError('max_step and max_cartesian_step must be > 0 '
                                       f'(got {req.max_step}, {req.max_cartesian_step})')
        limits = JointLimits.from_model(model, values['joint_limit_margin'])
        seed = self._current_configuration(model, req.seed, 'seed', limits)
        deadline = time.perf_counter() + values['limits.max_timeout']
        path = solve_path(model, waypoints, seed, max_step=max_step,
                          allow_branch_change=req.allow_branch_change,
                          max_cartesian_step=req.max_cartesian_step or None, settings=settings,
                          limits=limits, active_joints=list(req.active_joints) or None,
                          cancel=lambda: cancel() or time.perf_counter() > deadline)
        res.trajectory = conv.trajectory_msg(model.joint_names, path.q, req.waypoints)
        res.trajectory.header.stamp = self.get_clock().now().to_msg()
        res.waypoint_success = path.success.tolist()
        res.waypoint_errors = conv.float64_array(path.max_error)
        res.waypoint_steps = conv.float64_array(path.step)
        met, count = int(path.success.sum()), len(waypoints)
        res.success = met == count
        if res.success:
            res.result_code.val = ResultCode.SUCCESS
        elif path.cancelled and time.perf_counter() > deadline:
            res.result_code.val = ResultCode.TIMED_OUT
        elif path.cancelled:
            res.result_code.val = ResultCode.PREEMPTED
        else:
            res.result_code.val = ResultCode.NO_IK_SOLUTION
        res.message = (f'{met} of {count} waypoints met; largest step '
                       f'{path.step.max(initial=0.0):.3g} (max_step {max_step:g})')
        if not res.success and len(path.success) and not path.success.all():
            first = int(np.flatnonzero(~path.success)[0])
            res.message += (f'; first miss at waypoint {first} (error '
                            f'{path.max_error[first]:.3g}, {path.results[first].stop_reason})')
        if path.cancelled:
            res.message += (f'; stopped after {len(path.success)} waypoints: '
                            + ('the path took limits.max_timeout '
                               f'({values["limits.max_timeout"]:g} s)'
                               if time.perf_counter() > deadline
                               else 'the client left or the node is shutting down'))

    def _fill_residual(self, req: ComputeResidual.Request, res: ComputeResidual.Response,
                       cancel=None) -> None:
        model = self._require_model()
        request_limits.check_objectives(req.pose_targets, req.objectives, self._values)
        request_limits.check_joint_list('active_joints', req.active_joints, self._values)
        objectives = conv.objectives_from_request(req.pose_targets, req.objectives)
        problem = ObjectiveSet(model, objectives)
        limits = JointLimits.from_model(model)
        q = self._current_configuration(model, req.configuration, 'configuration', limits)
        residual, jac = residual_and_jacobian(model, problem, q)
        res.residual = conv.float64_array(residual)
        res.objective_errors = conv.objective_error_msgs(
            objectives, problem.objective_errors(residual)
        )
        if req.compute_jacobian:
            if req.active_joints:
                cols = [model.joint_id(n) for n in req.active_joints]
                if len(set(cols)) != len(cols):
                    raise InvalidSettingsError('active_joints names a joint twice; name each '
                                               'Jacobian column once')
            else:
                cols = list(np.flatnonzero(problem.default_active))
            res.jacobian_columns = [model.joint_names[c] for c in cols]
            res.jacobian_rows = problem.num_rows
            res.jacobian = conv.float64_array(jac[:, cols])
        res.success = True
        res.result_code.val = ResultCode.SUCCESS
        res.message = f'{problem.num_rows} residual rows at the given configuration'


def _starts(result) -> str:
    """Say how many configurations a solve descended from: the seed and its restarts."""
    if result.restarts == 0:
        return 'the seed'
    return f'the seed and {result.restarts} other starts (seed table, random)'


def _result_code(result) -> int:
    """Return the ResultCode value of a solve's outcome."""
    if result.success:
        return ResultCode.SUCCESS
    return {core_solver.TIMEOUT: ResultCode.TIMED_OUT,
            core_solver.CANCELLED: ResultCode.PREEMPTED}.get(result.stop_reason,
                                                             ResultCode.NO_IK_SOLUTION)


def _describe(result, objectives, settings) -> str:
    """Describe a solve in one human-readable line."""
    ms = result.elapsed * 1e3
    if result.success:
        return (
            f'solved: largest error {result.max_error:.2e} <= tolerance {settings.tolerance:.1e}, '
            f'{result.iterations} iterations from {_starts(result)}, {ms:.2f} ms'
        )
    worst = int(np.argmax([max(p, r) for p, r in result.objective_errors]))
    p, r = result.objective_errors[worst]
    why = {
        core_solver.UNREACHABLE: 'a target position is out of reach of its link',
        core_solver.TIMEOUT: f'the time budget of {settings.timeout * 1e3:g} ms ran out',
        core_solver.RESTARTS_EXHAUSTED: f'all {result.restarts} restarts were used',
        core_solver.MAX_ITERATIONS: f'the limit of {settings.max_iterations} iterations was hit',
        core_solver.STALLED: 'the descent reached a local minimum',
        core_solver.CANCELLED: 'the solve was abandoned (client gone or shutdown)',
    }[result.stop_reason]
    limits = (
        f'; joints at a limit: {", ".join(result.joints_at_limit)}'
        if result.joints_at_limit
        else ''
    )
    return (
        f'no solution: {why}. Best configuration returned has largest error '
        f'{result.max_error:.3g} (objective {worst} on {objectives[worst].link!r}: '
        f'position {p:.3g} m, rotation {r:.3g} rad)'
        f'{limits}; {result.iterations} iterations from {_starts(result)}, {ms:.2f} ms'
    )


@lru_cache(maxsize=64)
def _effective_config(mode: str, settings, max_deviation: Optional[float],
                      joint_limit_margin: float, ignore_joint_limits: bool, seed_mode: int,
                      active_joints: tuple, robot: str) -> str:
    """YAML of the settings a solve ran with (but its random seed): a few texts, reused."""
    return conv.yaml_mapping({
        'mode': mode,
        'tolerance': settings.tolerance,
        'max_iterations': settings.max_iterations,
        'timeout': settings.timeout,
        'max_restarts': settings.max_restarts if mode == GLOBAL else 0,
        'batch_size': settings.batch_size,
        'initial_damping': settings.initial_damping,
        'max_deviation': max_deviation,
        'joint_limit_margin': joint_limit_margin,
        'ignore_joint_limits': ignore_joint_limits,
        'seed_mode': 'random' if seed_mode else 'current',
        'active_joints': list(active_joints),
        'approximate': settings.approximate,
        'robot': robot,
    })


def main(args=None) -> int:
    """
    Console script ``ik_service_node``: standard ``--ros-args`` apply; returns the exit code.

    SIGINT and SIGTERM end the spin loop, then the node stops in order on this thread:
    solves are cancelled and their threads joined before the node and rclpy's context are
    destroyed. (rclpy's own handlers shut the context down from another thread while
    solves may still publish; a second signal stops at once.)
    """
    faulthandler.enable()       # a crash in a C library prints every thread's stack
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    node = executor = None
    code = 0
    try:
        node = IKServiceNode()
        # What start-up made (modules, numba's compiled code, the model: ~140 000 objects)
        # stays: out of the cyclic collector's sight, its full collections take ~0.01 ms
        # instead of 70 ms, pauses a stream or a call would wait out (bench/stream_bench.py).
        gc.freeze()
        # parameters, topics and the hand-off of requests; solves run on the node's workers
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SIGNAL_CHECK_PERIOD)
    except StartupError as e:
        rclpy.logging.get_logger('ik_service').fatal(f'not started: {e}')
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


__all__ = ['IKServiceNode', 'main', 'SPECS']
