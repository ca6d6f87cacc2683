"""ik_service: inverse kinematics as a ROS 2 service; ``ik_service.core`` has no ROS."""
import os

# The solver works on many tiny matrices; OpenBLAS worker threads only add latency and
# keep cores spinning after each call (slowing other processes, such as a robot driver).
# Set before numpy loads; a value chosen by the user wins.
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
