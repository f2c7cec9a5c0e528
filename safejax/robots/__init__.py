"""Robots: MJCF plus action map and sensor list, one module each."""

from safejax.robots.base import RobotSpec, set_root_pose
from safejax.robots.car import CAR
from safejax.robots.doggo import DOGGO
from safejax.robots.point import POINT

ROBOTS: dict[str, RobotSpec] = {"point": POINT, "car": CAR, "doggo": DOGGO}

__all__ = ["ROBOTS", "RobotSpec", "set_root_pose"]
