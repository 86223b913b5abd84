"""Slow loop references for losses/negatives.py and losses/spectral.py, term by term from the papers.

Like ``oracles.py`` (whose small helpers they reuse): Python floats, ``math``, loops over anchors and
negatives, no code shared with ``edu_contrast.losses``. Exponentials are taken directly, as the
papers write them (float64 is enough for the temperatures the tests use).
"""

from __future__ import annotations

import math

from oracles import _cos, _dot, _rows


def _anchors(z1, z2):
    """NT-Xent's 2N anchors: (view, index of its positive, indices of its M = 2N − 2 negatives)."""
    z = _rows(z1) + _rows(z2)
    n = len(z) // 2
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        yield z, i, partner, [k for k in range(2 * n) if k not in (i, partner)]


def _debiased_term(positive, negatives, weights, temperature, tau_plus):
    """−log [pos / (pos + N_g)], N_g = max((M Σ w e / Σ w − τ⁺ M pos) / (1 − τ⁺), M e^{−1/τ})."""
    m = len(negatives)
    reweighted = m * sum(w * e for w, e in zip(weights, negatives, strict=True)) / sum(weights)
    n_g = max((reweighted - tau_plus * m * positive) / (1 - tau_plus), m * math.exp(-1 / temperature))
    return -math.log(positive / (positive + n_g))


def debiased_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1):
    """Chuang et al. 2020: NT-Xent's anchors with the debiased, clamped negative term N_g."""
    total, count = 0.0, 0
    for z, i, partner, others in _anchors(z1, z2):
        positive = math.exp(_cos(z[i], z[partner]) / temperature)
        m = len(others)
        negative_sum = sum(math.exp(_cos(z[i], z[k]) / temperature) for k in others)
        n_g = max((negative_sum - tau_plus * m * positive) / (1 - tau_plus), m * math.exp(-1 / temperature))
        total += -math.log(positive / (positive + n_g))
        count += 1
    return total / count


def hard_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1, beta=1.0):
    """Robinson et al. 2021: the debiased N_g with importance weights w_k = e^{β s_ik/τ}."""
    total, count = 0.0, 0
    for z, i, partner, others in _anchors(z1, z2):
        positive = math.exp(_cos(z[i], z[partner]) / temperature)
        negatives = [math.exp(_cos(z[i], z[k]) / temperature) for k in others]
        weights = [math.exp(beta * _cos(z[i], z[k]) / temperature) for k in others]
        total += _debiased_term(positive, negatives, weights, temperature, tau_plus)
        count += 1
    return total / count


def clamp_engaged(z1, z2, temperature, tau_plus, beta=0.0):
    """How many anchors' N_g is the floor M e^{−1/τ} (to tell whether a test exercises the clamp)."""
    engaged = 0
    for z, i, partner, others in _anchors(z1, z2):
        positive = math.exp(_cos(z[i], z[partner]) / temperature)
        negatives = [math.exp(_cos(z[i], z[k]) / temperature) for k in others]
        weights = [math.exp(beta * _cos(z[i], z[k]) / temperature) for k in others]
        m = len(others)
        reweighted = m * sum(w * e for w, e in zip(weights, negatives, strict=True)) / sum(weights)
        engaged += (reweighted - tau_plus * m * positive) / (1 - tau_plus) < m * math.exp(-1 / temperature)
    return engaged


def class_conditional_nt_xent(z1, z2, labels, temperature=0.5):
    """Chen, Fu et al. 2022, L_cNCE: negatives are the other samples' views of the anchor's class.

    Anchors without such a negative are skipped; 0.0 if every anchor is skipped.
    """
    label_of = [int(v) for v in labels.tolist()] * 2  # view 2 of sample j is anchor j + N
    per_anchor = []
    for z, i, partner, others in _anchors(z1, z2):
        same_class = [k for k in others if label_of[k] == label_of[i]]
        if not same_class:
            continue
        positive = math.exp(_cos(z[i], z[partner]) / temperature)
        denominator = positive + sum(math.exp(_cos(z[i], z[k]) / temperature) for k in same_class)
        per_anchor.append(-math.log(positive / denominator))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def spectral_contrastive(z1, z2):
    """HaoChen et al. 2021: −2 mean_i f(x_i)ᵀf(x_i⁺) + mean_{i ≠ j} (f(x_i)ᵀf(x_j⁺))², raw vectors."""
    a, b = _rows(z1), _rows(z2)
    n = len(a)
    positive = sum(_dot(a[i], b[i]) for i in range(n)) / n
    pairs = [_dot(a[i], b[j]) ** 2 for i in range(n) for j in range(n) if j != i]
    return -2 * positive + sum(pairs) / len(pairs)
