"""Activations and losses, written with graphad.numpy so they trace and differentiate.

The losses are the numerically stable forms: cross-entropies are computed from
logits through softplus / logsumexp, which never overflow and keep their
gradients finite at any logit. Losses average over all elements (the batch).
"""
from __future__ import annotations

import numpy as np

from . import numpy as gnp
from .errors import ShapeError


# ---- activations ------------------------------------------------------------------

def relu(x):
    """max(x, 0), with derivative 0 at 0 (as in JAX and PyTorch)."""
    return gnp.where(x > 0, x, 0)


def sigmoid(x):
    """1 / (1 + exp(-x)), evaluated without overflow."""
    return gnp.sigmoid(x)


def softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow at large x,
    and its derivative at 0 is exactly sigmoid(0) = 0.5."""
    return gnp.maximum(x, 0) + gnp.log1p(gnp.exp(-gnp.abs(x)))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, shifted by the maximum so it never overflows."""
    return gnp.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(x, axis=-1):
    return x - gnp.logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    return gnp.exp(log_softmax(x, axis))


def one_hot(labels, num_classes, dtype=np.float64):
    """Integer class indices (any shape) -> `labels.shape + (num_classes,)` of 0/1.
    Built with a comparison, so it traces without advanced indexing."""
    labels = gnp.asarray(labels)
    classes = np.arange(num_classes, dtype=labels.dtype)
    return gnp.astype(gnp.expand_dims(labels, -1) == classes, dtype)


# ---- losses -----------------------------------------------------------------------

def mse(pred, target, half=False):
    """mean((pred - target)**2); `half=True` multiplies by 1/2, whose gradient is
    then just the mean residual."""
    r = pred - target
    loss = gnp.mean(r * r)
    return 0.5 * loss if half else loss


def binary_cross_entropy(logits, labels):
    """Mean of -[y log sigmoid(z) + (1-y) log(1 - sigmoid(z))] for logits z and
    labels y in [0, 1], computed as softplus(z) - y*z: finite for any z."""
    return gnp.mean(softplus(logits) - labels * logits)


def binary_cross_entropy_probs(probs, labels, eps=1e-12):
    """The same loss from probabilities p = sigmoid(z), for models that output
    probabilities (the seeds' sigmoid classifier). p and 1-p are clipped below
    at `eps` so that a saturated p gives a large finite loss and a finite
    gradient instead of inf/nan. Prefer `binary_cross_entropy` on logits."""
    log_p = gnp.log(gnp.maximum(probs, eps))
    log_not_p = gnp.log(gnp.maximum(1 - probs, eps))
    return -gnp.mean(labels * log_p + (1 - labels) * log_not_p)


def softmax_cross_entropy(logits, labels, axis=-1):
    """Mean over the batch of -sum(labels * log_softmax(logits)) along `axis`.

    `labels` is either one-hot / a probability distribution with the logits'
    shape, or integer class indices with the logits' shape minus the class axis
    (only for the last axis)."""
    logits = gnp.asarray(logits)
    labels = gnp.asarray(labels)
    if labels.dtype.kind in "iu":
        if axis not in (-1, logits.ndim - 1) or tuple(labels.shape) != tuple(logits.shape[:-1]):
            raise ShapeError(f"softmax_cross_entropy: integer labels of shape {tuple(labels.shape)} "
                             f"need shape {tuple(logits.shape[:-1])} (logits {tuple(logits.shape)} "
                             "without the class axis, which must be the last)")
        labels = one_hot(labels, logits.shape[-1], logits.dtype)
    elif tuple(labels.shape) != tuple(logits.shape):
        raise ShapeError(f"softmax_cross_entropy: labels of shape {tuple(labels.shape)} do not match "
                         f"logits of shape {tuple(logits.shape)} (pass one-hot labels, or integer "
                         "class indices)")
    return -gnp.mean(gnp.sum(labels * log_softmax(logits, axis), axis=axis))
