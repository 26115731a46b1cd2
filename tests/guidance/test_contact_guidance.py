"""Contact guidance: planted feet stop sliding while the body, the root path and the foot heights stay put."""

from __future__ import annotations

import math

import pytest
import torch

from humo.guidance import ContactGuidance, contact_energy
from humo.metrics.kinematics import foot_skating
from humo.representations.contact import FEET, contact_labels

FPS = 20.0
K = 4  # frames per latent token


def sliding_walk(frames: int, drift: float = 0.45, speed: float = 1.2, phase: float = 0.0) -> torch.Tensor:
    """``(frames, 22, 3)``: a body moving along +x at ``speed``; each foot alternates a 0.6 s stance, on
    the floor but drifting forward at ``drift`` m/s, and a 0.4 s swing (up to 12 cm) to keep up."""
    t = torch.arange(frames, dtype=torch.float32) / FPS
    joints = torch.zeros(frames, 22, 3)
    joints[:, :, 0] = speed * t[:, None]
    joints[:, :, 1] = torch.linspace(0.1, 1.7, 22)  # every non-foot joint well above the floor
    joints[:, :, 2] = torch.linspace(-0.2, 0.2, 22)
    for k, (j, shift) in enumerate(zip(FEET, (0.0, 0.0, 0.5, 0.5), strict=True)):
        cycle = (t + shift + phase) % 1.0  # 1 s gait cycle; the right foot half a cycle later
        stance = cycle < 0.6
        start = t - cycle  # when this foot's cycle began
        x_plant = speed * start + drift * cycle.clamp(max=0.6)
        swing = ((cycle - 0.6) / 0.4).clamp(0, 1)
        x_next = speed * (start + 1.0)
        x = torch.where(stance, x_plant, (1 - swing) * (speed * start + drift * 0.6) + swing * x_next)
        lift = torch.where(stance, torch.zeros_like(t), 0.12 * torch.sin(math.pi * swing))
        joints[:, j, 0] = x + (0.15 if k % 2 else 0.0)  # toes ahead of the ankles
        joints[:, j, 1] = lift + (0.0 if k % 2 else 0.08)
        joints[:, j, 2] = -0.1 if k < 2 else 0.1
    return joints


class FootDecoder:
    """Differentiable stand-in for a decoder: token ``l`` of ``(B, L, 32)`` moves the four feet
    horizontally on its 4 frames (4 frames x 4 feet x (x, z)) of one base clip ``(T, 22, 3)``."""

    def __init__(self, base: torch.Tensor):
        self.base = base

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        b, l, _ = z.shape
        off = z.reshape(b, l * K, 4, 2)
        out = self.base[: l * K].expand(b, -1, -1, -1)
        feet = out[:, :, list(FEET)] + torch.stack([off[..., 0], torch.zeros_like(off[..., 0]), off[..., 1]], -1)
        return out.index_copy(2, torch.tensor(FEET), feet)


def test_energy_is_zero_at_rest_and_counts_each_term():
    ref = sliding_walk(40, drift=0.0)[None]
    contacts = contact_labels(ref)
    frames = torch.ones(1, 40, dtype=torch.bool)
    assert float(contact_energy(ref, ref, contacts, frames)) == pytest.approx(0.0, abs=1e-10)
    moved = ref.clone()
    moved[..., 0] += 0.1  # the whole body 10 cm along x: only the root term (w_root * 0.1^2)
    assert float(contact_energy(moved, ref, contacts, frames)) == pytest.approx(10 * 0.01, rel=1e-4)
    lifted = ref.clone()
    lifted[:, :, list(FEET), 1] += 0.1  # feet 10 cm up: the height term on planted frames
    assert float(contact_energy(lifted, ref, contacts, frames)) == pytest.approx(100 * 0.01, rel=1e-4)


def test_planted_feet_stop_sliding_and_the_body_stays():
    decode = FootDecoder(sliding_walk(40))
    z0 = 0.001 * torch.randn(2, 10, 32, generator=torch.Generator().manual_seed(1))
    base = decode(z0)
    before = foot_skating(base, FPS)
    assert bool((before > 0.3).all())  # the drifting stance, as a generated walk's
    out = ContactGuidance(steps=100, lr=0.01)(z0, decode, None, torch.ones(2, 10, dtype=torch.bool))
    joints = decode(out)
    after = foot_skating(joints, FPS)
    assert bool((after < before / 4).all()), (before, after)
    body = [j for j in range(22) if j not in FEET]
    assert torch.equal(joints[:, :, body], base[:, :, body])  # untouched by construction of the decoder
    # planted feet neither lifted nor sunk, and (nearly) every planted frame stays planted
    assert torch.equal(joints[..., 1], base[..., 1])
    kept = (contact_labels(joints) & contact_labels(base)).sum() / contact_labels(base).sum()
    assert float(kept) > 0.9


def test_given_tokens_held_and_clips_refined_independently_of_the_batch():
    decode = FootDecoder(sliding_walk(40))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, :3] = False  # e.g. an outpainting context
    z0 = 0.001 * torch.randn(2, 10, 32, generator=torch.Generator().manual_seed(0))
    guide = ContactGuidance(steps=20, lr=0.01)
    lengths = torch.tensor([40, 28])  # the second clip is 7 tokens long, its padding decoded apart
    both = guide(z0, decode, None, mask, lengths=lengths)
    assert torch.equal(both[~mask], z0[~mask])
    assert not torch.equal(both[mask], z0[mask])
    for i in range(2):
        alone = guide(z0[i:i + 1], decode, None, mask[i:i + 1], lengths=lengths[i:i + 1])
        assert torch.allclose(alone, both[i:i + 1], atol=1e-6)
    assert torch.equal(both[1, 7:], z0[1, 7:])  # past its 28 frames nothing pulls on the second clip


def test_noop_and_errors():
    z = torch.randn(1, 3, 32)
    decode = FootDecoder(sliding_walk(12))
    assert torch.equal(ContactGuidance()(z, decode, None, torch.zeros(1, 3, dtype=torch.bool)), z)
    assert torch.equal(ContactGuidance(steps=0)(z, decode, None, torch.ones(1, 3, dtype=torch.bool)), z)
    with pytest.raises(ValueError, match="update_mask"):
        ContactGuidance()(z, decode, None, torch.ones(1, 4, dtype=torch.bool))
    for bad in ({"steps": -1}, {"lr": float("nan")}, {"w_root": -1.0}, {"fps": 0.0}):
        with pytest.raises(ValueError):
            ContactGuidance(**bad)
    assert ContactGuidance.final and "steps=50" in repr(ContactGuidance())


def test_adam_step_is_torch_adam():
    from humo.guidance.contact import adam_step

    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 5, generator=g)
    ours = torch.randn(3, 5, generator=g)
    theirs = ours.clone().requires_grad_(True)
    opt = torch.optim.Adam([theirs], lr=0.05)
    m, v = torch.zeros_like(ours), torch.zeros_like(ours)
    for step in range(1, 31):
        adam_grad = 2 * (ours - target) * torch.linspace(0.1, 3.0, 5)  # badly scaled quadratic
        ours = adam_step(ours, adam_grad, m, v, step, lr=0.05)
        opt.zero_grad()
        ((theirs - target).square() * torch.linspace(0.1, 3.0, 5)).sum().backward()
        opt.step()
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)
