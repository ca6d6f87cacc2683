"""
Start ik_service with a URDF or xacro file and a parameter file.

    ros2 launch ik_service ik_service.launch.py
    ros2 launch ik_service ik_service.launch.py description_file:=/path/robot.urdf.xacro \
        params_file:=/path/params.yaml start_robot_state_publisher:=true namespace:=left_arm

Everything here is also reachable without launch: the node reads the same file from its
robot_description_file parameter (and expands xacro itself).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import Command, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory('ik_service')
    description_file = LaunchConfiguration('description_file')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'description_file',
                default_value=os.path.join(share, 'urdf', 'ur5e.urdf'),
                description='URDF or xacro file of the robot',
            ),
            DeclareLaunchArgument(
                'params_file',
                default_value=os.path.join(share, 'config', 'ik_service.yaml'),
                description='ik_service parameter file',
            ),
            DeclareLaunchArgument(
                'namespace', default_value='', description='namespace of the nodes'
            ),
            DeclareLaunchArgument(
                'start_robot_state_publisher',
                default_value='false',
                description='also start robot_state_publisher with the same description',
            ),
            Node(
                package='ik_service',
                executable='ik_service_node',
                name='ik_service',
                namespace=LaunchConfiguration('namespace'),
                output='screen',
                parameters=[
                    LaunchConfiguration('params_file'),
                    {'robot_description_file': description_file},
                ],
            ),
            Node(
                package='robot_state_publisher',
                executable='robot_state_publisher',
                namespace=LaunchConfiguration('namespace'),
                output='screen',
                condition=IfCondition(LaunchConfiguration('start_robot_state_publisher')),
                parameters=[
                    {
                        'robot_description': ParameterValue(
                            Command(['xacro ', description_file]), value_type=str
                        )
                    }
                ],
            ),
        ]
    )
