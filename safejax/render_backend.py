"""Headless OpenGL backend choice for MuJoCo's renderer; importing this module applies it.

No JAX or MuJoCo import here: it must run before `mujoco` is first imported (`safejax/__init__.py`
imports it first)."""

from __future__ import annotations

import ctypes.util
import os
import platform

INSTALL_HINT = (
    "install an OpenGL backend for headless rendering: Mesa's EGL (Debian/Ubuntu: "
    "`apt-get install libegl1 libgl1-mesa-dri`) or OSMesa (`apt-get install libosmesa6`), "
    "or set MUJOCO_GL to a working backend (egl, osmesa, glfw) before importing safejax"
)


def choose_gl_backend(environ: dict[str, str] | None = None) -> str | None:
    """Sets `MUJOCO_GL` (unless set) to "egl", else "osmesa", where that library is installed.

    Linux only (elsewhere MuJoCo's own default is right). Returns the value in effect, or None.
    It must run before `mujoco` is imported to have an effect; `safejax/__init__.py` calls it.
    """
    environ = os.environ if environ is None else environ
    if environ.get("MUJOCO_GL"):
        return environ["MUJOCO_GL"]
    if platform.system() != "Linux":
        return None
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            environ["MUJOCO_GL"] = backend
            return backend
    return None


choose_gl_backend()
