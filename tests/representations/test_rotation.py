import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from humo.representations import rotation as R

ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


@pytest.mark.parametrize("order", ORDERS)
def test_euler_matches_scipy_intrinsic(order):
    angles = torch.rand(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ours = R.euler_to_matrix(angles * math.pi, order).numpy()
    ref = Rotation.from_euler(order, (angles * math.pi).numpy()).as_matrix()  # upper case = intrinsic
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
def test_matrix_to_euler_round_trip(order):
    g = torch.Generator().manual_seed(2)
    angles = (torch.rand(500, 3, generator=g, dtype=torch.float64) - 0.5) * torch.tensor([6.2, 3.1, 6.2],
                                                                                           dtype=torch.float64)
    m = R.euler_to_matrix(angles, order)
    back = R.matrix_to_euler(m, order)
    torch.testing.assert_close(back, angles, atol=1e-9, rtol=0)


@pytest.mark.parametrize("order", ORDERS)
def test_gimbal_lock_still_reproduces_matrix(order):
    angles = torch.tensor([[0.3, math.pi / 2, -0.4], [1.0, -math.pi / 2, 0.2]], dtype=torch.float64)
    m = R.euler_to_matrix(angles, order)
    torch.testing.assert_close(R.euler_to_matrix(R.matrix_to_euler(m, order), order), m, atol=1e-6, rtol=0)


def test_bad_order():
    with pytest.raises(ValueError, match="Euler order"):
        R.euler_to_matrix(torch.zeros(3), "XXY")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: sum(x * x for x in q) > 1e-3),
       st.lists(st.floats(-10, 10), min_size=3, max_size=3))
def test_quaternion_matrix_consistency(q, v):
    q = R.qnormalize(torch.tensor(q, dtype=torch.float64))
    v = torch.tensor(v, dtype=torch.float64)
    m = R.quat_to_matrix(q)
    torch.testing.assert_close(R.qrot(q, v), m @ v, atol=1e-9, rtol=1e-9)
    q2 = R.matrix_to_quat(m)
    assert min((q2 - q).abs().max(), (q2 + q).abs().max()) < 1e-9
    torch.testing.assert_close(R.cont6d_to_matrix(R.matrix_to_cont6d(m)), m, atol=1e-9, rtol=0)
    torch.testing.assert_close(R.qmul(q, R.qinv(q)), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_qbetween_rotates_onto_target():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(100, 3, generator=g), torch.randn(100, 3, generator=g)
    rotated = R.qrot(R.qbetween(u, v), u)
    torch.testing.assert_close(torch.nn.functional.normalize(rotated, dim=-1),
                               torch.nn.functional.normalize(v, dim=-1), atol=1e-5, rtol=0)
