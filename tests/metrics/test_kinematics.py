"""humo.metrics.kinematics: closed-form values on constructed clips."""

from __future__ import annotations

import math

import pytest
import torch

from humo.metrics.kinematics import (
    bone_std,
    foot_skating,
    jerk,
    kinematic_stats,
    lowest_foot,
    penetration,
    root_speed,
    share_inside,
)
from humo.representations.contact import ground
from tests.helpers import synthetic_joints


def still(frames: int = 30) -> torch.Tensor:
    return ground(synthetic_joints(1, seed=5))[0].expand(frames, 22, 3).clone()


def test_root_speed_and_jerk_of_known_trajectories():
    t = torch.arange(30, dtype=torch.float64)[:, None, None] / 20
    x = still() + torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64) * t  # 1 m/s diagonal, constant velocity
    assert float(root_speed(x)) == pytest.approx(1.0)
    assert float(jerk(x)) == pytest.approx(0.0, abs=1e-8)
    cubic = still() + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) * t**3  # third derivative 6 m/s^3
    assert float(jerk(cubic)) == pytest.approx(6.0, rel=1e-6)
    assert float(root_speed(still())) == 0.0


def test_bone_std_is_zero_when_rigid_and_the_stretch_otherwise():
    x = synthetic_joints(40, batch=(2,))
    assert float(bone_std(x).max()) < 1e-9
    y = x.clone()
    factor = torch.tensor([1.0, 1.2], dtype=torch.float64).repeat(20)[:, None]  # (40, 1)
    y[..., 21, :] = y[..., 19, :] + (x[..., 21, :] - x[..., 19, :]) * factor
    expected = 0.1 * float((x[0, 0, 21] - x[0, 0, 19]).norm())  # lengths alternate L and 1.2 L: std 0.1 L
    assert float(bone_std(y)[0]) == pytest.approx(expected, rel=1e-6)


def test_floor_float_penetration_and_skating():
    x = still()
    assert float(lowest_foot(x)) == pytest.approx(0.0, abs=1e-12)
    assert float(lowest_foot(x + torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64))) == pytest.approx(0.1)
    assert float(penetration(x - torch.tensor([0.0, 0.03, 0.0], dtype=torch.float64))) == pytest.approx(0.03)
    assert float(foot_skating(x)) == 0.0
    slide = x.clone()
    slide[:, [7, 10], 0] += 0.3 * torch.arange(30, dtype=torch.float64)[:, None] / 20  # left foot slides at 0.3 m/s
    slide[:, [8, 11], 1] += 0.2  # right foot lifted: not counted
    assert float(foot_skating(slide)) == pytest.approx(0.3)
    stats = kinematic_stats(torch.stack([x, slide]))
    assert set(stats) == {"bone_std", "root_speed", "lowest_foot", "penetration", "foot_skating", "jerk"}
    assert stats["foot_skating"].tolist() == pytest.approx([0.0, 0.3])


def test_share_inside():
    v = torch.tensor([[0.0, 1.0, 2.0, float("nan")], [5.0, 5.0, 5.0, 5.0]])
    out = share_inside(v, torch.tensor([0.5, 0.0]), torch.tensor([2.0, 1.0]))
    assert out.tolist() == pytest.approx([2 / 3, 0.0])
    assert math.isnan(float(share_inside(torch.tensor([float("nan")]), 0.0, 1.0)))
