"""Robots: MJCF plus action map and sensor list, one module each."""

from safejax.robots.base import RobotSpec, set_root_pose
from safejax.robots.point import POINT

ROBOTS: dict[str, RobotSpec] = {"point": POINT}

__all__ = ["ROBOTS", "RobotSpec", "set_root_pose"]
