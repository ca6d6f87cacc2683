from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'ik_service'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=['ik_service', 'ik_service.*']),
    package_data={'ik_service': ['robots/*.urdf']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        (os.path.join('share', package_name, 'launch'), glob('launch/*launch.[pxy][yma]*')),
        (os.path.join('share', package_name, 'config'), glob('config/*.yaml')),
        (os.path.join('share', package_name, 'urdf'), glob('ik_service/robots/*.urdf')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='ik_service developers',
    maintainer_email='ik-service@example.com',
    description='Inverse kinematics as a ROS 2 service with Klampt objective semantics.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'ik_service_node = ik_service.node:main',
            'ik_service_demo = ik_service.demo:main',
        ],
    },
)
