"""
Start ik_service, and optionally robot_state_publisher and RViz, for one robot.

    ros2 launch ik_service ik_service.launch.py
    ros2 launch ik_service ik_service.launch.py description_file:=/path/robot.urdf.xacro \
        params_file:=/path/params.yaml start_robot_state_publisher:=true namespace:=left_arm
    ros2 launch ik_service ik_service.launch.py rviz:=true

rviz:=true also starts a second robot_state_publisher that turns each solution
(``ik_service/solution``) into frames prefixed ``ik_solution/``, attached to the robot's
root link, and RViz with ``config/ik_service.rviz``: the robot, the ghost of the last
solution and the markers of the last request. Everything the node does is reachable
without launch (``python -m ik_service --ros-args ...``); the helpers used here are in
``ik_service.launch_support``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from ik_service.launch_support import (description_text, GHOST_FRAME_PREFIX,
                                       missing_packages, root_link, SOLUTION_TOPIC)
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

ARGUMENTS = {
    'description_file': ('URDF or xacro file of the robot (used when robot_description is '
                         'empty)', None),
    'robot_description': ('URDF text of the robot; wins over description_file', ''),
    'params_file': ('ik_service parameter file', None),
    'namespace': ('namespace of every node started here', ''),
    'joint_states_topic': ("topic of the robot's joint states (the seed)", 'joint_states'),
    'use_sim_time': ('use /clock for time stamps', 'false'),
    'log_level': ('log level of ik_service: debug, info, warn, error', 'info'),
    'start_robot_state_publisher': ('also start robot_state_publisher for the robot',
                                    'false'),
    'rviz': ('also start RViz with the robot, the last solution and its markers', 'false'),
}


def _nodes(context):
    """Check what the arguments need, then return the nodes (nothing starts on a problem)."""
    arg = {name: context.launch_configurations[name] for name in ARGUMENTS}
    flag = {name: arg[name].lower() in ('true', '1', 'yes') for name in
            ('use_sim_time', 'start_robot_state_publisher', 'rviz')}
    needed = (['robot_state_publisher'] if flag['start_robot_state_publisher'] or flag['rviz']
              else []) + (['rviz2', 'tf2_ros'] if flag['rviz'] else [])
    missing = missing_packages(needed)
    if missing:
        raise RuntimeError(
            f'ROS package(s) {", ".join(missing)} not found (needed for '
            f'start_robot_state_publisher:={arg["start_robot_state_publisher"]} '
            f'rviz:={arg["rviz"]}): install them (apt install '
            + ' '.join(f'ros-$ROS_DISTRO-{p.replace("_", "-")}' for p in missing)
            + ') or leave those arguments false')
    sim_time = {'use_sim_time': flag['use_sim_time']}
    node_description = ({'robot_description': arg['robot_description']}
                        if arg['robot_description']
                        else {'robot_description_file': arg['description_file']})
    nodes = [Node(
        package='ik_service', executable='ik_service_node', name='ik_service',
        namespace=arg['namespace'], output='screen',
        parameters=[arg['params_file'], node_description, sim_time],
        remappings=[('joint_states', arg['joint_states_topic'])],
        ros_arguments=['--log-level', arg['log_level']],
    )]
    if not needed:
        return nodes
    text = description_text(arg['robot_description'], arg['description_file'])
    if flag['start_robot_state_publisher']:
        nodes.append(Node(
            package='robot_state_publisher', executable='robot_state_publisher',
            namespace=arg['namespace'], output='screen',
            parameters=[{'robot_description': text}, sim_time],
            remappings=[('joint_states', arg['joint_states_topic'])]))
    if flag['rviz']:
        root = root_link(text)
        share = get_package_share_directory('ik_service')
        nodes += [
            Node(package='robot_state_publisher', executable='robot_state_publisher',
                 name='ik_solution_state_publisher', namespace=arg['namespace'],
                 parameters=[{'robot_description': text, 'frame_prefix': GHOST_FRAME_PREFIX},
                             sim_time],
                 remappings=[('joint_states', SOLUTION_TOPIC),
                             ('robot_description', GHOST_FRAME_PREFIX + 'robot_description')]),
            Node(package='tf2_ros', executable='static_transform_publisher',
                 name='ik_solution_root', namespace=arg['namespace'],
                 arguments=['--frame-id', root, '--child-frame-id', GHOST_FRAME_PREFIX + root],
                 parameters=[sim_time]),
            Node(package='rviz2', executable='rviz2', namespace=arg['namespace'],
                 arguments=['-d', os.path.join(share, 'config', 'ik_service.rviz'),
                            '-f', root],
                 parameters=[sim_time]),
        ]
    return nodes


def generate_launch_description():
    share = get_package_share_directory('ik_service')
    defaults = {'description_file': os.path.join(share, 'urdf', 'ur5e.urdf'),
                'params_file': os.path.join(share, 'config', 'ik_service.yaml')}
    return LaunchDescription(
        [DeclareLaunchArgument(name, description=description,
                               default_value=defaults[name] if default is None else default)
         for name, (description, default) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])
