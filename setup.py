from glob import glob
import os
import subprocess
import sys

from setuptools import find_packages, setup
from setuptools.command.install import install

package_name = 'ik_service'


class InstallAndCompile(install):
    """Install, then compile the solver kernel into the installed package's cache.

    numba caches machine code beside the sources; a fresh install (colcon build) has
    none, and the first request would wait ~20 s for the compiler. A failure here only
    warns: the kernel then compiles on first use.
    """

    def run(self):
        super().run()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (self.install_lib, os.environ.get('PYTHONPATH')) if p))
        done = subprocess.run([sys.executable, '-m', 'ik_service.core.kernel_warm_up'],
                              env=env, cwd=self.install_lib)
        if done.returncode != 0:
            print('warning: the solver kernel was not compiled at install; it compiles on '
                  'first use', file=sys.stderr)


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=['ik_service', 'ik_service.*']),
    package_data={'ik_service': ['robots/*.urdf']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        (os.path.join('share', package_name, 'launch'), glob('launch/*launch.[pxy][yma]*')),
        (os.path.join('share', package_name, 'config'),
         glob('config/*.yaml') + glob('config/*.rviz')),
        (os.path.join('share', package_name, 'urdf'), glob('ik_service/robots/*.urdf')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='ik_service developers',
    maintainer_email='ik-service@example.com',
    description='Inverse kinematics as a ROS 2 service with Klampt objective semantics.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    cmdclass={'install': InstallAndCompile},
    entry_points={
        'console_scripts': [
            'ik_service_node = ik_service.node:main',
            'ik_service_demo = ik_service.demo:main',
            'ik_service = ik_service.relabel.cli:main',
        ],
    },
)
