"""Sensors: the pseudo-lidar (robot sensors are read from MuJoCo, see safejax.robots)."""

from safejax.sensors.lidar import pseudo_lidar

__all__ = ["pseudo_lidar"]
