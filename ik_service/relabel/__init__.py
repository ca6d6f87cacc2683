"""
Relabel end-effector datasets with joint positions under one documented IK configuration.

``ik_service relabel`` (``python -m ik_service.relabel``) and the functions behind it:
``relabel_lerobot`` writes a labelled copy of a LeRobot v3 dataset, ``verify_lerobot``
checks recorded joints against recorded poses. No ROS is needed.
"""

from .episode import BAD_POSE, chain_joints, Labeller, NOT_MET, RelabelConfig, SOLVED
from .lerobot import Columns, DatasetError, relabel_lerobot, verify_lerobot

__all__ = ['BAD_POSE', 'chain_joints', 'Columns', 'DatasetError', 'Labeller', 'NOT_MET',
           'RelabelConfig', 'relabel_lerobot', 'SOLVED', 'verify_lerobot']
