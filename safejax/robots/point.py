"""Point: a planar sphere with a forward motor and a yaw-rate servo (spec section 9.1).

Physical parameters follow Safety Gym's point.xml: timestep 0.002, slide x/y (damping 0.01),
yaw hinge (damping 0.005), sphere r 0.1 (4.19e-3 kg), forward marker 1e-3 kg, motor gear 0.3 with
force range 0.05, velocity servo gear 0.3 with force range 0.05. The forward marker is a sphere
(spec: box of half-size 0.05) because sphere-box contacts cost MJX about half as much as box-box;
see docs/FIDELITY.md.
"""

from safejax.robots.base import BODY_SENSOR_NAMES, BODY_SENSOR_XML, RobotSpec

_BODY = """
<body name="robot" pos="0 0 .1">
  <joint name="x" type="slide" axis="1 0 0" damping="0.01"/>
  <joint name="y" type="slide" axis="0 1 0" damping="0.01"/>
  <joint name="z" type="hinge" axis="0 0 1" damping="0.005"/>
  <geom name="robot" type="sphere" size=".1" mass="0.0041888" friction="1 0.01 0.01"
        class="robot"/>
  <geom name="pointarrow" type="box" pos="0.1 0 0" size=".05 .05 .05" mass="0.001"
        class="robot_nose"/>
  <geom name="pointarrow_proxy" type="sphere" pos="0.1 0 0" size=".05" mass="0"
        class="robot_nose_proxy"/>
  <site name="robot" pos="0 0 0" size=".032" rgba="1 0 0 .1"/>
</body>
"""

_ACTUATORS = """
<motor name="x" site="robot" gear="0.3 0 0 0 0 0" ctrllimited="true" ctrlrange="-1 1"
       forcelimited="true" forcerange="-0.05 0.05"/>
<velocity name="z" joint="z" gear="0.3" kv="1" ctrllimited="true" ctrlrange="-1 1"
          forcelimited="true" forcerange="-0.05 0.05"/>
"""

POINT = RobotSpec(
    name="point",
    timestep=0.002,
    body_xml=_BODY,
    actuator_xml=_ACTUATORS,
    sensor_xml=BODY_SENSOR_XML,
    sensor_names=BODY_SENSOR_NAMES,
    root="planar",
    rest_z=0.1,
    floor_contact=False,
    # Newton with 2 iterations and 4 line-search steps. One iteration (about 20% less CPU time
    # per step, same free-motion trajectories and vase push) let a robot pressed into a pillar
    # at full throttle lose contact on alternate steps, so it is not the default.
    solver=(("solver", "Newton"), ("iterations", "2"), ("ls_iterations", "4")),
)
