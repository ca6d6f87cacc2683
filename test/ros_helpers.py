"""Start the real node as a process and talk to it over DDS, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time

from rcl_interfaces.msg import Parameter
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter as ParameterValue


class NodeProcess:
    """``python -m ik_service --ros-args ...`` in a child process, with its output in a file."""

    def __init__(
        self, *ros_args: str, executable: list[str] | None = None, env: dict | None = None
    ):
        self.log = tempfile.NamedTemporaryFile(
            'w+', prefix='ik_service_', suffix='.log', delete=False
        )
        cmd = (executable or [sys.executable, '-m', 'ik_service']) + ['--ros-args', *ros_args]
        self.process = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env or os.environ.copy()
        )

    def output(self) -> str:
        """Everything the node printed so far."""
        with open(self.log.name) as f:
            return f.read()

    def stop(self) -> int:
        """Interrupt the node like Ctrl-C and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def call(node, client, request, timeout: float = 10.0, attempts: int = 2):
    """
    One service call, waiting up to ``timeout`` [s] for the answer, sent again once.

    A response can be lost while DDS is still matching a new client's reply reader
    (rmw_fastrtps waits 100 ms for it, which a loaded 2-core machine sometimes exceeds);
    every request here is idempotent, so a second attempt tells that apart from a node
    that does not answer.
    """
    executor = SingleThreadedExecutor()  # not the global one: callers may be in threads
    executor.add_node(node)
    try:
        for _ in range(attempts):
            future = client.call_async(request)
            executor.spin_until_future_complete(future, timeout_sec=timeout)
            if future.done():
                return future.result()
            client.remove_pending_request(future)
    finally:
        executor.remove_node(node)
        executor.shutdown()
    raise AssertionError(f'no answer from {client.srv_name} within {timeout} s, '
                         f'{attempts} attempts')


def set_parameter(node, node_name: str, name: str, value):
    """Set one parameter of a running node; return its SetParametersResult."""
    client = node.create_client(SetParameters, f'{node_name}/set_parameters')
    assert client.wait_for_service(timeout_sec=10)
    try:
        value = ParameterValue(name, value=value).get_parameter_value()
        return call(node, client, SetParameters.Request(
            parameters=[Parameter(name=name, value=value)])).results[0]
    finally:
        node.destroy_client(client)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f'condition not met within {timeout} s')


class Inbox:
    """The messages one subscription of ``node`` received, in order (thread-safe)."""

    def __init__(self, node, kind, topic: str, depth: int = 100):
        self.messages, self._lock = [], threading.Lock()
        node.create_subscription(kind, topic, self._add, depth)

    def _add(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)

    def __len__(self) -> int:
        with self._lock:
            return len(self.messages)
