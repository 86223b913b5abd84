"""Slow reference implementations, written term by term from the papers with Python loops.

They take tensors, work on Python floats (float64 via ``tolist``) with ``math``, and return a
float. They share no code with ``edu_contrast.losses`` on purpose: the tests compare the two.
Other test files (exercises, methods) may import them too.
"""

from __future__ import annotations

import math


def _rows(x):
    """A ``(n, d)`` tensor as a list of lists of Python floats."""
    return x.detach().double().tolist()


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(a):
    norm = math.sqrt(_dot(a, a))
    return [x / norm for x in a]


def _cos(a, b):
    return _dot(_unit(a), _unit(b))


def _sq_dist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


def _log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def info_nce(query, positive, negatives=None, temperature=0.1):
    """van den Oord et al. 2018, Eq. 4: −log [exp(s(q,k⁺)/τ) / (exp(s(q,k⁺)/τ) + Σ_m exp(s(q,k_m⁻)/τ))]."""
    q, k = _rows(query), _rows(positive)
    n = len(q)
    total = 0.0
    for i in range(n):
        if negatives is None:
            keys_neg = [k[j] for j in range(n) if j != i]
        elif negatives.dim() == 2:
            keys_neg = _rows(negatives)
        else:
            keys_neg = _rows(negatives[i])
        pos = _cos(q[i], k[i]) / temperature
        logits = [pos] + [_cos(q[i], kn) / temperature for kn in keys_neg]
        total += -(pos - _log_sum_exp(logits))
    return total / n


def nt_xent(z1, z2, temperature=0.5):
    """Chen et al. 2020 (SimCLR), Eq. 1 over the 2N views, mean over the 2N anchors."""
    z = _rows(z1) + _rows(z2)
    n = len(z) // 2
    total = 0.0
    for i in range(2 * n):
        partner = i + n if i < n else i - n
        denominator = [_cos(z[i], z[k]) / temperature for k in range(2 * n) if k != i]
        total += -(_cos(z[i], z[partner]) / temperature - _log_sum_exp(denominator))
    return total / (2 * n)


def dcl(z1, z2, temperature=0.1):
    """Yeh et al. 2022: −s(z_i, z_i⁺)/τ + log Σ_{l ∈ views, j ≠ i} exp(s(z_i, z_j^(l))/τ), mean over 2N."""
    views = [_rows(z1), _rows(z2)]
    n = len(views[0])
    total = 0.0
    for v in range(2):
        for i in range(n):
            anchor, partner = views[v][i], views[1 - v][i]
            negatives = [
                _cos(anchor, views[l][j]) / temperature for l in range(2) for j in range(n) if j != i
            ]
            total += -_cos(anchor, partner) / temperature + _log_sum_exp(negatives)
    return total / (2 * n)


def margin_contrastive(x1, x2, is_positive, margin=1.0):
    """Hadsell et al. 2006, Eq. 4 without the ½: y d² + (1 − y) max(0, m − d)², mean over pairs."""
    a, b, y = _rows(x1), _rows(x2), [float(v) for v in is_positive.tolist()]
    total = 0.0
    for ai, bi, yi in zip(a, b, y, strict=True):
        d = math.sqrt(_sq_dist(ai, bi))
        total += yi * d**2 + (1 - yi) * max(0.0, margin - d) ** 2
    return total / len(a)


def supcon(features, labels=None, temperature=0.07, base_temperature=0.07):
    """Khosla et al. 2020, Eq. 2 (L^sup_out) with every view an anchor; anchors without positives skipped."""
    n, views = features.shape[0], features.shape[1]
    label_of = list(range(n)) if labels is None else [int(v) for v in labels.tolist()]
    z, anchor_label = [], []
    for i in range(n):
        for v in range(views):
            z.append(features[i, v].double().tolist())
            anchor_label.append(label_of[i])
    per_anchor = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        positives = [p for p in others if anchor_label[p] == anchor_label[i]]
        if not positives:
            continue
        log_denominator = _log_sum_exp([_cos(z[i], z[a]) / temperature for a in others])
        log_probs = [_cos(z[i], z[p]) / temperature - log_denominator for p in positives]
        per_anchor.append(-sum(log_probs) / len(positives))
    return temperature / base_temperature * sum(per_anchor) / len(per_anchor)


def byol(prediction, target):
    """Grill et al. 2020, Eq. 2: 2 − 2 cos(p, z'), mean over the batch."""
    p, z = _rows(prediction), _rows(target)
    return sum(2 - 2 * _cos(pi, zi) for pi, zi in zip(p, z, strict=True)) / len(p)


def alignment(z1, z2, alpha=2):
    """Wang & Isola 2020: mean ‖ẑ1 − ẑ2‖^α."""
    a, b = _rows(z1), _rows(z2)
    return sum(math.sqrt(_sq_dist(_unit(x), _unit(y))) ** alpha for x, y in zip(a, b, strict=True)) / len(a)


def euclidean_alignment(z1, z2):
    """Chen et al. 2020b, Table 1: mean over pairs of ‖z1_i − z2_i‖² (raw vectors, no normalisation)."""
    a, b = _rows(z1), _rows(z2)
    return sum(_sq_dist(x, y) for x, y in zip(a, b, strict=True)) / len(a)


def uniformity(z, t=2):
    """Wang & Isola 2020: log of the mean over pairs i < j of exp(−t ‖ẑ_i − ẑ_j‖²)."""
    u = [_unit(x) for x in _rows(z)]
    potentials = [math.exp(-t * _sq_dist(u[i], u[j])) for i in range(len(u)) for j in range(i + 1, len(u))]
    return math.log(sum(potentials) / len(potentials))


def sliced_wasserstein(z, prior_samples, directions):
    """Chen et al. 2020b, Algorithm 1: project on each direction, sort, mean squared gap of sorted values.

    ``z`` and ``prior_samples`` are ``(N, d)`` (already on the sphere for the hypersphere prior),
    ``directions`` is ``(d, K)``; the result is averaged over N and K.
    """
    a, b = _rows(z), _rows(prior_samples)
    w = list(zip(*_rows(directions), strict=True))  # K directions of length d
    total = 0.0
    for direction in w:
        pa = sorted(_dot(x, direction) for x in a)
        pb = sorted(_dot(x, direction) for x in b)
        total += sum((x - y) ** 2 for x, y in zip(pa, pb, strict=True))
    return total / (len(a) * len(w))


def vicreg_terms(z1, z2, gamma=1.0, eps=1e-4):
    """Bardes et al. 2022, Eq. 1–5, one dimension / pair of dimensions at a time.

    Returns (invariance, v(Z) + v(Z'), c(Z) + c(Z')).
    """
    a, b = _rows(z1), _rows(z2)
    n, d = len(a), len(a[0])
    invariance = sum(_sq_dist(x, y) for x, y in zip(a, b, strict=True)) / (n * d)

    def variance(z):
        total = 0.0
        for j in range(d):
            column = [row[j] for row in z]
            mean = sum(column) / n
            var = sum((x - mean) ** 2 for x in column) / (n - 1)
            total += max(0.0, gamma - math.sqrt(var + eps))
        return total / d

    def covariance(z):
        means = [sum(row[j] for row in z) / n for j in range(d)]
        total = 0.0
        for j in range(d):
            for k in range(d):
                if j != k:
                    c = sum((row[j] - means[j]) * (row[k] - means[k]) for row in z) / (n - 1)
                    total += c**2
        return total / d

    return invariance, variance(a) + variance(b), covariance(a) + covariance(b)


def vicreg(z1, z2, sim_weight=25.0, var_weight=25.0, cov_weight=1.0):
    """Bardes et al. 2022, Eq. 6: λ_I s + λ_V (v(Z) + v(Z')) + λ_C (c(Z) + c(Z'))."""
    invariance, variance, covariance = vicreg_terms(z1, z2)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
