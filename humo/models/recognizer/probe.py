"""Linear probe: multinomial logistic regression on frozen embeddings (train / test accuracy)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from humo.representations._checks import check_tensor


@dataclass
class ProbeResult:
    """Accuracy of a logistic-regression probe (``weight (C, D)``, ``bias (C,)`` on standardised features)."""

    train_accuracy: float
    test_accuracy: float
    weight: torch.Tensor
    bias: torch.Tensor


def _check(features, labels, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = check_tensor(features, f"{name} features", min_dim=2)
    if x.ndim != 2:
        raise ValueError(f"{name} features must be (N, D), got {tuple(x.shape)}")
    y = torch.as_tensor(labels)
    if y.shape != x.shape[:1] or y.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"{name} labels must be integers of shape ({x.shape[0]},), got {y.dtype} "
                         f"{tuple(y.shape)}")
    if (y < 0).any():
        raise ValueError(f"{name} labels must be >= 0")
    return x.detach().double(), y.long().to(x.device)


def linear_probe(features, labels, test_features=None, test_labels=None, test_fraction: float = 0.2,
                 weight_decay: float = 1e-3, max_iter: int = 200, generator: torch.Generator | None = None
                 ) -> ProbeResult:
    """Fit a softmax classifier on frozen features with L-BFGS and report train / test accuracy.

    Args:
        features: ``(N, D)`` training features (e.g. ``MotionEmbedding.fused``).
        labels: ``(N,)`` integer class ids.
        test_features, test_labels: held-out set; when omitted a random ``test_fraction`` of the
            training rows is held out (drawn with ``generator``).
        weight_decay: L2 penalty on the weights.
        max_iter: L-BFGS iterations.
    """
    x, y = _check(features, labels, "train")
    if test_features is None:
        if test_labels is not None:
            raise ValueError("test_labels given without test_features")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        n_test = max(1, int(round(test_fraction * x.shape[0])))
        if n_test >= x.shape[0]:
            raise ValueError(f"need at least 2 samples to split into train and test, got {x.shape[0]}")
        xt, yt, x, y = x[perm[:n_test]], y[perm[:n_test]], x[perm[n_test:]], y[perm[n_test:]]
    else:
        xt, yt = _check(test_features, test_labels, "test")
        if xt.shape[1] != x.shape[1]:
            raise ValueError(f"train features have D={x.shape[1]}, test features D={xt.shape[1]}")
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    x, xt = (x - mean) / std, (xt.to(x.device) - mean) / std
    num_classes = int(max(y.max(), yt.max())) + 1
    weight = torch.zeros(num_classes, x.shape[1], dtype=x.dtype, device=x.device, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        train_acc = float(((x @ weight.T + bias).argmax(1) == y).double().mean())
        test_acc = float(((xt @ weight.T + bias).argmax(1) == yt.to(x.device)).double().mean())
    return ProbeResult(train_acc, test_acc, weight.detach().float(), bias.detach().float())
