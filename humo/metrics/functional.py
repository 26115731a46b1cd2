"""The text-to-motion evaluation formulas (T2M, CVPR 2022) as pure torch functions over embeddings.

Every function takes embeddings ``(N, D)`` (torch tensors or numpy arrays, CPU or GPU) and returns 0-d /
1-d float64 tensors on the input's device. Precision follows the reference: the R-precision / MM-Dist
distance matrices in the embeddings' own dtype (float32 evaluator outputs give float32 distances, as the
reference's numpy code on float32 arrays), every other statistic in float64. Random draws take an explicit
``torch.Generator`` (``None`` = torch's global generator); the draws are made on the generator's device
and moved to the data. Results match the reference implementation (``utils/metrics.py`` of
EricGuo5513/text-to-motion, copied into MDM, MLD, T2M-GPT, MoMask, MARDM) up to float rounding, with
these documented differences:

* ``d^2`` is clamped at 0 before the square root (the reference can return NaN for two identical
  float32 vectors), and MM-Dist takes each pair's distance directly (the same value without the
  expansion's cancellation, so identical pairs give exactly 0), summed in float64;
* ``frechet_distance(method="eigh")`` (the default) gets ``Tr sqrtm(S1 S2)`` from the eigenvalues of the
  symmetric PSD matrix ``sqrt(S1) S2 sqrt(S1)`` (same value, similar matrices); ``method="scipy"``
  runs the reference's ``scipy.linalg.sqrtm`` path verbatim; a fixed real set's statistics can be
  computed once (:class:`FidReference`) and reused by every :func:`fid` call;
* ``diversity`` accepts ``N == times`` (the reference asserts ``N > times``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humo.representations._checks import check_tensor

FID_METHODS = ("eigh", "scipy")
IMAGINARY_ATOL = 1e-3  # the reference raises when the root's imaginary part exceeds this


def _matrix(x, name: str, ndim: int = 2, double: bool = True) -> torch.Tensor:
    """Validate an embedding array; float64 unless ``double=False`` (cast after indexing instead)."""
    x = check_tensor(x, name, min_dim=ndim)
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise ValueError(f"{name} has an empty feature axis, shape {tuple(x.shape)}")
    return x.to(torch.float64) if double else x


def _paired(text_emb, motion_emb, double: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    t = _matrix(text_emb, "text_emb", double=double)
    m = _matrix(motion_emb, "motion_emb", double=double)
    if t.shape != m.shape:
        raise ValueError(f"text_emb {tuple(t.shape)} and motion_emb {tuple(m.shape)} must have the same "
                         "shape")
    return t, m.to(t.device)


def _randperm(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(n, generator=generator, device=gen_device).to(device)


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(..., N, D), (..., M, D) -> (..., N, M)`` Euclidean distances, the reference's expansion."""
    d2 = -2.0 * (a @ b.transpose(-1, -2))
    d2 = d2 + (a * a).sum(-1, keepdim=True) + (b * b).sum(-1).unsqueeze(-2)
    return d2.clamp_min(0.0).sqrt()


def euclidean_distance_matrix(a, b) -> torch.Tensor:
    """Pairwise Euclidean distances.

    Args:
        a: ``(N, D)`` embeddings.
        b: ``(M, D)`` embeddings.

    Returns:
        ``(N, M)`` float64, ``out[i, j] = ||a[i] - b[j]||``.
    """
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a (N, {a.shape[1]}) and b (M, {b.shape[1]}) must have the same embedding size")
    return _distances(a, b.to(a.device))


def _batches(n: int, batch_size: int, generator, shuffle: bool, device) -> torch.Tensor:
    """``(n_batches, batch_size)`` indices: a (shuffled) order cut into full batches (drop_last)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} samples, got {n}")
    order = _randperm(n, generator, device) if shuffle else torch.arange(n, device=device)
    n_batches = n // batch_size
    return order[: n_batches * batch_size].view(n_batches, batch_size)


def _batch_distances(text_emb, motion_emb, batch_size, generator, shuffle, with_index: bool = False):
    """``(n_batches, B, B)`` distances (row = text, column = motion) in the embeddings' precision (float32
    or float64; half precision is promoted to float32), and the ``(n_batches, B)`` paired distances,
    computed directly (exact for identical pairs, where the expansion cancels); with ``with_index`` also the
    ``(n_batches, B)`` row indices of each batch."""
    t, m = _paired(text_emb, motion_emb, double=False)
    if t.dtype not in (torch.float32, torch.float64):
        t, m = t.float(), m.float()
    m = m.to(t.dtype)
    idx = _batches(t.shape[0], batch_size, generator, shuffle, t.device)
    shape = (*idx.shape, t.shape[1])  # (n_batches, B, D)
    if shuffle or idx.numel() != t.shape[0]:
        t, m = t.index_select(0, idx.flatten()), m.index_select(0, idx.flatten())
    t, m = t.view(shape), m.view(shape)
    out = _distances(t, m), torch.linalg.vector_norm(t - m, dim=-1)
    return (*out, idx) if with_index else out


def _own_ranks(dist: torch.Tensor) -> torch.Tensor:
    """``(n_batches, B)`` 0-based rank of each text's own motion in a stable argsort of its distance row."""
    batch_size = dist.shape[-1]
    own = dist.diagonal(dim1=-2, dim2=-1).unsqueeze(-1)  # (n_batches, B, 1)
    before = torch.ones(batch_size, batch_size, dtype=torch.bool, device=dist.device).tril(-1)
    # the motions strictly closer, plus the equally close ones listed before it (no sort needed)
    return ((dist < own) | ((dist == own) & before)).sum(-1)


@dataclass
class RetrievalMetrics:
    """``r_precision (top_k,)`` and ``matching_score`` (0-d), both float64, from the same batches."""

    r_precision: torch.Tensor
    matching_score: torch.Tensor


def retrieval_metrics(text_emb, motion_emb, top_k: int = 3, batch_size: int = 32,
                      generator: torch.Generator | None = None, shuffle: bool = True) -> RetrievalMetrics:
    """R-precision top-1..top-k and MM-Dist of the T2M protocol from one set of batches.

    The pairs are (shuffled and) cut into batches of ``batch_size`` (the last partial batch is
    dropped), as ``calculate_R_precision`` / ``calculate_top_k`` are applied per loader batch in the
    reference. In each batch every text ranks the batch's motions by Euclidean distance (stable
    argsort); a hit at rank ``r`` counts for every ``k >= r`` (cumulative). MM-Dist sums each batch's
    distance-matrix trace. Both divide by the number of pairs used.

    Args:
        text_emb: ``(N, D)`` text embeddings; row ``i`` describes ``motion_emb[i]``.
        motion_emb: ``(N, D)`` motion embeddings.
        top_k: how many ranks to report (``<= batch_size``).
        batch_size: 32 in the protocol.
        generator: draws the shuffling permutation (``randperm(N)``).
        shuffle: ``False`` keeps the given order (use when the rows already come in shuffled batches).
    """
    if not 1 <= top_k <= batch_size:
        raise ValueError(f"top_k must be in [1, batch_size={batch_size}], got {top_k}")
    dist, paired = _batch_distances(text_emb, motion_emb, batch_size, generator, shuffle)
    used = dist.shape[0] * batch_size
    rank = _own_ranks(dist)  # (n_batches, B)
    hits = rank.unsqueeze(-1) < torch.arange(1, top_k + 1, device=dist.device)  # found within the first k
    return RetrievalMetrics(hits.sum(dim=(0, 1)).to(torch.float64) / used,
                            paired.double().sum() / used)


def retrieval_hits(text_emb, motion_emb, top_k: int = 3, batch_size: int = 32,
                   generator: torch.Generator | None = None, shuffle: bool = True) -> torch.Tensor:
    """Per pair, whether its text finds its motion within the first ``top_k`` of its batch: ``(N,)`` float64,
    1 or 0, NaN for the pairs of the dropped partial batch. Same batches and ranking as
    :func:`retrieval_metrics` for the same ``generator`` state, so the mean of the finite entries is its
    ``R@top_k``; averaged over several draws and grouped by label it gives R-precision per class."""
    if not 1 <= top_k <= batch_size:
        raise ValueError(f"top_k must be in [1, batch_size={batch_size}], got {top_k}")
    dist, _, idx = _batch_distances(text_emb, motion_emb, batch_size, generator, shuffle, with_index=True)
    out = torch.full((len(text_emb),), float("nan"), dtype=torch.float64, device=dist.device)
    out[idx.flatten()] = (_own_ranks(dist) < top_k).flatten().to(torch.float64)
    return out


def r_precision(text_emb, motion_emb, top_k: int = 3, batch_size: int = 32,
                generator: torch.Generator | None = None, shuffle: bool = True) -> torch.Tensor:
    """R-precision ``(top_k,)`` float64 ``[R@1, ..., R@top_k]``; see :func:`retrieval_metrics`."""
    return retrieval_metrics(text_emb, motion_emb, top_k, batch_size, generator, shuffle).r_precision


def matching_score(text_emb, motion_emb, batch_size: int = 32, generator: torch.Generator | None = None,
                   shuffle: bool = True) -> torch.Tensor:
    """MM-Dist (0-d float64): mean distance between each text and its own motion over the same drop_last
    batches as :func:`r_precision` (same draw, same pairs); see :func:`retrieval_metrics`."""
    return retrieval_metrics(text_emb, motion_emb, 1, batch_size, generator, shuffle).matching_score


def activation_statistics(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``x: (N, D)`` (``np.cov(rowvar=False)``)."""
    x = _matrix(x, "activations", double=False)
    if x.shape[0] < 2:
        raise ValueError(f"activation statistics need at least 2 samples, got {x.shape[0]}")
    xc = x.to(torch.float64, copy=True)  # centred in place: one float64 copy of the set, never the caller's
    mu = xc.mean(0)
    xc -= mu
    if xc.device.type == "cpu":  # numpy's BLAS computes A^T A as a symmetric rank-k update: half the work
        a = xc.detach().numpy()
        return mu, torch.from_numpy(a.T @ a) / (x.shape[0] - 1)
    return mu, xc.T @ xc / (x.shape[0] - 1)


def _check_gaussian(mu, sigma, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    mu = check_tensor(mu, f"mu{name}").to(torch.float64).reshape(-1)
    sigma = check_tensor(sigma, f"sigma{name}", min_dim=2).to(torch.float64)
    if sigma.ndim != 2 or sigma.shape != (mu.shape[0], mu.shape[0]):
        d = mu.shape[0]
        raise ValueError(f"sigma{name} must have shape ({d}, {d}), got {tuple(sigma.shape)}")
    return mu, sigma


def _psd_sqrt(sigma: torch.Tensor, name: str) -> torch.Tensor:
    w, v = torch.linalg.eigh((sigma + sigma.T) / 2)
    scale = float(w.abs().max()) if w.numel() else 0.0
    if float(w.min()) < -1e-8 * max(scale, 1e-300):
        raise ValueError(f"{name} is not positive semi-definite (eigenvalue {float(w.min()):.3g}); "
                         "use method='scipy' for arbitrary matrices")
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def _check_symmetric(*pairs: tuple[str, torch.Tensor]) -> None:
    for name, s in pairs:
        if not torch.allclose(s, s.T, rtol=1e-5, atol=1e-8):
            raise ValueError(f"{name} must be symmetric (a covariance); use method='scipy' otherwise")


def _trace_sqrt_eigh(s1: torch.Tensor, s2: torch.Tensor, eps: float, root1: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """``Tr sqrtm(s1 s2)`` for symmetric PSD covariances (checked by the callers that take them from users)."""
    def eigenvalues(a, b, r=None):
        r = _psd_sqrt(a, "sigma1") if r is None else r
        # r b r is similar to a b and symmetric PSD; eigvalsh reads its lower triangle only. On CPU numpy's
        # LAPACK/BLAS take 35% less time than torch's here (512 x 512 float64, one thread).
        if r.device.type == "cpu":
            rn = r.detach().numpy()
            lam = np.linalg.eigvalsh(rn @ b.detach().numpy() @ rn)
            return torch.from_numpy(lam)
        return torch.linalg.eigvalsh(r @ b @ r)

    lam = eigenvalues(s1, s2, root1)
    if not bool(torch.isfinite(lam).all()):  # the reference's fallback for a singular product
        offset = torch.eye(s1.shape[0], dtype=s1.dtype, device=s1.device) * eps
        lam = eigenvalues(s1 + offset, s2 + offset)
    imaginary = lam.clamp_max(0.0).neg().sqrt()  # roots of negative eigenvalues are imaginary
    if imaginary.numel() and float(imaginary.max()) > IMAGINARY_ATOL:
        raise ValueError(f"Imaginary component {float(imaginary.max())} in the covariance product's root")
    return lam.clamp_min(0.0).sqrt().sum()


def _trace_sqrt_scipy(s1: torch.Tensor, s2: torch.Tensor, eps: float) -> torch.Tensor:
    import numpy as np
    from scipy import linalg

    a, b = s1.cpu().numpy(), s2.cpu().numpy()
    covmean = linalg.sqrtm(a.dot(b))
    if not np.isfinite(covmean).all():
        offset = np.eye(a.shape[0]) * eps
        covmean = linalg.sqrtm((a + offset).dot(b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_ATOL):
            m = np.max(np.abs(covmean.imag))
            raise ValueError(f"Imaginary component {m} in the covariance product's root")
        covmean = covmean.real
    return torch.tensor(float(np.trace(covmean)), dtype=torch.float64, device=s1.device)


class FidReference:
    """The real set's side of FID, computed once: mean ``(D,)``, covariance ``(D, D)`` and (for the
    default ``"eigh"`` method, on first use) the covariance's PSD square root.

    Pass it to :func:`fid` (or :class:`~humo.metrics.MotionMetrics` ``fid_reference``) in place of the
    real embeddings when the same real set is compared with many generated sets (replications,
    checkpoints): each call then only fits the generated set.

    Args:
        real: ``(N, D)`` real embeddings.
    """

    def __init__(self, real):
        self.mu, self.sigma = activation_statistics(real)
        self._root: torch.Tensor | None = None

    @classmethod
    def from_statistics(cls, mu, sigma) -> FidReference:
        """Wrap precomputed ``mu (D,)`` and ``sigma (D, D)``."""
        ref = cls.__new__(cls)
        ref.mu, ref.sigma = _check_gaussian(mu, sigma, "1")
        _check_symmetric(("sigma", ref.sigma))
        ref._root = None
        return ref

    def root(self) -> torch.Tensor:
        """``sqrtm(sigma)`` (symmetric PSD), cached."""
        if self._root is None:
            self._root = _psd_sqrt(self.sigma, "sigma1")
        return self._root


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "eigh") -> torch.Tensor:
    """Frechet distance ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))`` between two Gaussians.

    As in the reference: if the root of the product is not finite, ``eps`` is added to both
    covariances' diagonals and it is recomputed; a negligible imaginary part is dropped and a large
    one (``> 1e-3``) raises ``ValueError``.

    Args:
        mu1, mu2: ``(D,)`` means.
        sigma1, sigma2: ``(D, D)`` covariances.
        eps: the fallback's diagonal offset.
        method: ``"eigh"`` (fast, GPU-capable; covariances must be symmetric PSD) or ``"scipy"``
            (``scipy.linalg.sqrtm`` on CPU float64, the reference verbatim).

    Returns:
        0-d float64.
    """
    if method not in FID_METHODS:
        raise ValueError(f"method must be one of {FID_METHODS}, got {method!r}")
    mu1, s1 = _check_gaussian(mu1, sigma1, "1")
    mu2, s2 = _check_gaussian(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 {tuple(mu1.shape)} and mu2 {tuple(mu2.shape)} have different lengths")
    if method == "eigh":
        _check_symmetric(("sigma1", s1), ("sigma2", s2))
    return _frechet(mu1, s1, mu2.to(mu1.device), s2.to(mu1.device), eps, method)


def _frechet(mu1, s1, mu2, s2, eps: float, method: str, root1: torch.Tensor | None = None) -> torch.Tensor:
    diff = mu1 - mu2
    trace = _trace_sqrt_eigh(s1, s2, eps, root1) if method == "eigh" else _trace_sqrt_scipy(s1, s2, eps)
    return diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * trace


def fid(real, generated, eps: float = 1e-6, method: str = "eigh") -> torch.Tensor:
    """FID between embeddings ``real: (N, D)`` (or a :class:`FidReference` of them) and ``generated: (M, D)``
    (Gaussian fits, rowvar=False)."""
    if method not in FID_METHODS:
        raise ValueError(f"method must be one of {FID_METHODS}, got {method!r}")
    ref = real if isinstance(real, FidReference) else FidReference(real)
    mu2, s2 = activation_statistics(generated)
    if ref.mu.shape != mu2.shape:
        raise ValueError(f"real (N, {ref.mu.shape[0]}) and generated (M, {mu2.shape[0]}) embedding sizes differ")
    root = ref.root() if method == "eigh" else None
    return _frechet(ref.mu, ref.sigma, mu2.to(ref.mu.device), s2.to(ref.mu.device), eps, method, root)


def diversity_times(n: int, times: int = 300, small: int = 100) -> int:
    """The number of diversity pairs to use for ``n`` samples: ``times`` (300) when ``n > times``,
    otherwise ``small`` (100). The T2M reference always uses 300 (and asserts ``n > 300``); several
    follow-up repositories switch to 100 on small test sets. Report which one you used."""
    if n > times:
        return times
    if n < small:
        raise ValueError(f"diversity needs at least {small} samples, got {n}")
    return small


def diversity(emb, times: int = 300, generator: torch.Generator | None = None) -> torch.Tensor:
    """Diversity: mean L2 distance between ``times`` random pairs.

    Two independent draws of ``times`` indices without replacement (``randperm(N)[:times]`` twice),
    paired position by position.

    Args:
        emb: ``(N, D)`` motion embeddings, ``N >= times`` (see :func:`diversity_times` for small sets).
        times: 300 in the protocol.
        generator: draws both permutations.

    Returns:
        0-d float64.
    """
    x = _matrix(emb, "embeddings", double=False)
    if times < 1:
        raise ValueError(f"times must be >= 1, got {times}")
    if x.shape[0] < times:
        raise ValueError(f"diversity needs at least times={times} samples, got {x.shape[0]} "
                         "(humo.metrics.diversity_times(n) gives the documented 100 for small sets)")
    first = _randperm(x.shape[0], generator, x.device)[:times]
    second = _randperm(x.shape[0], generator, x.device)[:times]
    return (x[first].double() - x[second].double()).norm(dim=1).mean()


def multimodality(emb, times: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """MultiModality: mean L2 distance between generations of the same prompt.

    As in the reference, one pair of draws of ``times`` among the ``R`` generations (without
    replacement) is shared by all prompts.

    Args:
        emb: ``(P, R, D)`` embeddings of ``R`` generations for each of ``P`` prompts, ``R >= times``.
        times: 10 in the protocol.
        generator: draws both permutations.

    Returns:
        0-d float64.
    """
    x = _matrix(emb, "embeddings", ndim=3, double=False)
    if times < 1:
        raise ValueError(f"times must be >= 1, got {times}")
    if x.shape[1] < times:
        raise ValueError(f"multimodality needs at least times={times} generations per prompt, "
                         f"got {x.shape[1]}")
    if x.shape[0] < 1:
        raise ValueError("multimodality needs at least one prompt")
    first = _randperm(x.shape[1], generator, x.device)[:times]
    second = _randperm(x.shape[1], generator, x.device)[:times]
    return (x[:, first].double() - x[:, second].double()).norm(dim=2).mean()


def clip_score(motion_emb, text_emb) -> torch.Tensor:
    """CLIP score (MARDM/ACMDM): mean cosine similarity of L2-normalised pairs (no x100, no clamp).

    Args:
        motion_emb, text_emb: ``(N, D)`` paired embeddings of a contrastive evaluator.

    Returns:
        0-d float64 in ``[-1, 1]``.
    """
    t, m = _paired(text_emb, motion_emb, double=False)
    m = m.to(t.dtype)

    def dot(a, b):  # products in the input's precision, sums in float64 (no float64 copies of the inputs)
        return (a * b).sum(-1, dtype=torch.float64)

    norms = dot(m, m).sqrt().clamp_min(1e-12) * dot(t, t).sqrt().clamp_min(1e-12)
    return (dot(m, t) / norms).mean()
