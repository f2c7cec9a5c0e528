"""safejax.render and benchmarks.video: frames from the MJX state, the warning sphere, videos."""

import importlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import safejax
from safejax import render_backend

render_mod = importlib.import_module("safejax.render")
OK, WHY = render_mod.available()
needs_gl = pytest.mark.skipif(not OK, reason=f"no OpenGL backend: {WHY}")
TRAINED = Path(__file__).parent.parent / "docs/results/batch_layout/pg1_ppo_lag_256x125"
W, H = 96, 72


@pytest.fixture(scope="module")
def world(envs):
    env, reset, step = envs("PointGoal1")
    state = reset(jax.random.PRNGKey(3))
    state = step(state, jnp.array([1.0, 0.3]))
    return env, state


def test_backend_choice_prefers_egl_then_osmesa_and_respects_the_user(monkeypatch):
    found = {"EGL": None, "OSMesa": "libOSMesa.so.8"}
    monkeypatch.setattr(render_backend.ctypes.util, "find_library", found.get)
    monkeypatch.setattr(render_backend.platform, "system", lambda: "Linux")
    environ = {}
    assert render_backend.choose_gl_backend(environ) == "osmesa"
    assert environ == {"MUJOCO_GL": "osmesa"}
    found["EGL"] = "libEGL.so.1"
    environ = {}
    assert render_backend.choose_gl_backend(environ) == "egl"
    environ = {"MUJOCO_GL": "glfw"}
    assert render_backend.choose_gl_backend(environ) == "glfw"
    assert environ == {"MUJOCO_GL": "glfw"}
    found.clear()
    environ = {}
    assert render_backend.choose_gl_backend(environ) is None and environ == {}


@needs_gl
def test_frame_has_the_requested_size_and_shows_the_world(world):
    env, state = world
    frame = safejax.render(env, state, width=W, height=H)
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    colours = np.unique(frame.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # floor, robot, goal, hazards and vase, shaded
    # The goal is drawn in green and the hazards in blue (spec colours, alpha-blended).
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    assert np.sum((g > r + 40) & (g > b + 40)) > 10
    assert np.sum((b > r + 40) & (b > g + 40)) > 10


@needs_gl
def test_warning_sphere_appears_only_on_a_step_with_cost(world):
    env, state = world
    with render_mod.Renderer(env, W, H, "fixednear") as r:
        calm = r.frames(state.replace(cost=jnp.float32(0.0)))
        again = r.frames(state.replace(cost=jnp.float32(0.0)))
        costly = r.frames(state.replace(cost=jnp.float32(1.0)))
    np.testing.assert_array_equal(calm, again)  # rendering is deterministic
    changed = np.any(calm != costly, axis=-1)
    assert changed.sum() > 20
    red = costly[changed].astype(int)
    assert np.mean(red[:, 0] - np.maximum(red[:, 1], red[:, 2])) > 50  # the change is red


@needs_gl
def test_batches_trajectories_and_vecstates_render_every_world(world, envs):
    env, state = world
    pair = jax.tree.map(lambda a: jnp.stack([a, a]), state)
    pair = pair.replace(cost=jnp.array([0.0, 1.0], jnp.float32))
    frames = safejax.render(env, pair, camera="top", width=W, height=H)
    assert frames.shape == (2, H, W, 3)
    assert np.any(frames[0] != frames[1])
    venv = safejax.VecEnv(env, 2, devices=None)
    vs = jax.jit(venv.reset)(jax.random.PRNGKey(0))
    assert safejax.render(env, vs, camera="track", width=W, height=H).shape == (2, H, W, 3)


@needs_gl
def test_lidar_halos_are_drawn_when_asked(world):
    env, state = world
    plain = safejax.render(env, state, camera="fixednear", width=W, height=H)
    halos = safejax.render(env, state, camera="fixednear", width=W, height=H, lidar=True)
    assert np.sum(np.any(plain != halos, axis=-1)) > 10


def test_bad_arguments_are_clear_errors(world):
    env, state = world
    with pytest.raises(ValueError, match="unknown camera 'side'; valid: fixedfar"):
        safejax.render(env, state, camera="side")
    with pytest.raises(ValueError, match="width must be a positive integer"):
        safejax.render(env, state, width=0)
    with pytest.raises(TypeError, match="takes a State"):
        safejax.render(env, [state, state])


@needs_gl
def test_video_of_a_trained_policy_has_every_frame(tmp_path, capsys):
    from benchmarks import video

    out = tmp_path / "policy.mp4"
    argv = ["--run", str(TRAINED), "--episodes", "2", "--steps", "4", "--out", str(out),
            "--width", str(W), "--height", str(H), "--camera", "track"]  # fmt: skip
    assert video.main(argv) == 0
    import imageio.v3 as iio

    frames = iio.imread(out)
    assert frames.shape == (2 * (4 + 1), H, W, 3)  # reset + 4 steps, two episodes
    assert "10 frames" in capsys.readouterr().out


@needs_gl
def test_gif_writer_keeps_every_frame(world, tmp_path):
    env, state = world
    clip = jax.tree.map(lambda a: jnp.stack([a] * 3), state)
    clip = clip.replace(cost=jnp.array([0.0, 1.0, 0.0], jnp.float32))  # warning light blinks
    frames = safejax.render(env, clip, width=W, height=H)
    path = tmp_path / "clip.gif"
    writer = render_mod.video_writer(str(path), fps=render_mod.frame_rate(env))
    for f in frames:
        writer.append_data(f)
    writer.close()
    import imageio.v3 as iio

    assert iio.imread(path).shape == (3, H, W, 3)
    assert render_mod.frame_rate(env) == pytest.approx(50.0)  # 0.002 s x 10 substeps


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x.mp4"], "give --env NAME"),
        (["--env", "PointGoal1", "--out", "x.avi"], "--out must end in .mp4 or .gif"),
        (["--env", "PointGoal9", "--out", "x.gif"], "Valid names: PointGoal0"),
        (["--env", "PointGoal1", "--steps", "0", "--out", "x.gif"], "--steps must be >= 1"),
        (["--run", "/nonexistent/run", "--out", "x.gif"], "/nonexistent/run"),
    ],
)
def test_video_bad_input_is_a_clear_error(argv, message, capsys, tmp_path):
    from benchmarks import video

    assert video.main(argv) == 2
    assert message in capsys.readouterr().err
