"""graphad.nn: values against numpy formulas, gradients against central differences,
and no overflow at large logits."""
import numpy as np
import pytest

import graphad
from graphad import nn

RNG = np.random.default_rng(1)
Z = RNG.standard_normal((5, 4)) * 3
T = RNG.standard_normal((5, 4))
Y01 = (RNG.random((5, 4)) > 0.5).astype(np.float64)
LABELS = np.array([0, 3, 1, 1, 2])
ONEHOT = np.eye(4)[LABELS]


def np_log_softmax(z, axis=-1):
    m = z.max(axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis, keepdims=True))


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


# (name, function of one array argument, numpy formula, input)
CASES = [
    ("relu", lambda z: nn.relu(z), lambda z: np.maximum(z, 0), Z),
    ("sigmoid", nn.sigmoid, np_sigmoid, Z),
    ("softplus", nn.softplus, lambda z: np.log(1 + np.exp(z)), Z),
    ("logsumexp", lambda z: nn.logsumexp(z, axis=1), lambda z: np.log(np.exp(z).sum(1)), Z),
    ("logsumexp-all", nn.logsumexp, lambda z: np.log(np.exp(z).sum()), Z),
    ("logsumexp-keep", lambda z: nn.logsumexp(z, axis=0, keepdims=True),
     lambda z: np.log(np.exp(z).sum(0, keepdims=True)), Z),
    ("log_softmax", nn.log_softmax, lambda z: np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True)), Z),
    ("log_softmax-axis0", lambda z: nn.log_softmax(z, axis=0),
     lambda z: np.log(np.exp(z) / np.exp(z).sum(0, keepdims=True)), Z),
    ("softmax", nn.softmax, lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True), Z),
    ("mse", lambda p: nn.mse(p, T), lambda p: np.mean((p - T) ** 2), Z),
    ("mse-half", lambda p: nn.mse(p, T, half=True), lambda p: 0.5 * np.mean((p - T) ** 2), Z),
    ("bce", lambda z: nn.binary_cross_entropy(z, Y01),
     lambda z: -np.mean(Y01 * np.log(np_sigmoid(z)) + (1 - Y01) * np.log(1 - np_sigmoid(z))), Z),
    ("bce-probs", lambda p: nn.binary_cross_entropy_probs(p, Y01),
     lambda p: -np.mean(Y01 * np.log(p) + (1 - Y01) * np.log(1 - p)), np_sigmoid(Z)),
    ("softmax-ce-onehot", lambda z: nn.softmax_cross_entropy(z, ONEHOT),
     lambda z: -np.mean(np.sum(ONEHOT * np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True)), 1)), Z),
    ("softmax-ce-int", lambda z: nn.softmax_cross_entropy(z, LABELS),
     lambda z: -np.mean(np_log_softmax(z)[np.arange(5), LABELS]), Z),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, f, ref, x", CASES, ids=IDS)
def test_values_eager_and_traced(name, f, ref, x):
    """On numpy arrays, and traced into a graph run by the numpy oracle."""
    expect = ref(x)
    np.testing.assert_allclose(f(x), expect, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(graphad.compile(f, backend="numpy")(x), expect, rtol=1e-12, atol=1e-15)


def test_all_compiled_with_default_backend():
    """Every case in one function, compiled once with the default backend."""
    everything = graphad.compile(lambda xs: [f(x) for (_, f, _, _), x in zip(CASES, xs)])
    got = everything([c[3] for c in CASES])
    for (name, _, ref, x), value in zip(CASES, got):
        np.testing.assert_allclose(value, ref(x), rtol=1e-12, atol=1e-15, err_msg=name)


def central_difference(f, x, direction, h=1e-6):
    return (f(x + h * direction) - f(x - h * direction)) / (2 * h)


@pytest.mark.parametrize("name, f, ref, x", CASES, ids=IDS)
def test_gradient_matches_central_differences(name, f, ref, x):
    """<grad(sum(f * w)), u> against a central difference of the numpy formula along u."""
    w = RNG.standard_normal(np.shape(ref(x)))
    u = RNG.standard_normal(x.shape)
    if name == "relu":                       # keep away from the kink for the difference
        x = np.where(np.abs(x) < 1e-3, 0.5, x)
    g = graphad.grad(lambda z: graphad.numpy.sum(f(z) * w))(x)
    fd = central_difference(lambda z: np.sum(ref(z) * w), x, u)
    np.testing.assert_allclose(np.sum(g * u), fd, rtol=1e-6, atol=1e-8)


def test_closed_form_gradients():
    """The identities that make these losses pleasant: gradients are residuals."""
    g = graphad.grad(lambda z: nn.softmax_cross_entropy(z, LABELS))(Z)
    p = np.exp(np_log_softmax(Z))
    np.testing.assert_allclose(g, (p - ONEHOT) / 5, rtol=1e-12, atol=1e-15)
    g = graphad.grad(lambda z: nn.binary_cross_entropy(z, Y01))(Z)
    np.testing.assert_allclose(g, (np_sigmoid(Z) - Y01) / Z.size, rtol=1e-12, atol=1e-15)
    g = graphad.grad(lambda p: nn.mse(p, T, half=True))(Z)
    np.testing.assert_allclose(g, (Z - T) / Z.size, rtol=1e-14)


def test_kinks():
    assert graphad.grad(nn.relu)(0.0) == 0.0          # as JAX and PyTorch
    assert graphad.grad(nn.relu)(2.0) == 1.0
    assert graphad.grad(nn.softplus)(0.0) == 0.5      # sigmoid(0), not 0.5 + something


BIG = np.array([[1000.0, -1000.0, 0.0], [-800.0, 750.0, 30.0]])


def test_stable_at_large_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow is fine
        lse = nn.logsumexp(BIG, axis=1)
        np.testing.assert_allclose(lse, [1000.0, 750.0], rtol=1e-15)
        np.testing.assert_allclose(nn.softplus(np.array([800.0, -800.0])), [800.0, 0.0], atol=1e-300)
        ce = nn.softmax_cross_entropy(BIG, np.array([1, 2]))
        np.testing.assert_allclose(ce, (2000.0 + 720.0) / 2, rtol=1e-15)
        np.testing.assert_allclose(nn.softmax(BIG).sum(1), [1.0, 1.0], rtol=1e-15)
    y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    bce = nn.binary_cross_entropy(BIG, y)
    np.testing.assert_allclose(bce, (1000 + 1000 + np.log(2) + 800 + 750 + 30 + np.log1p(np.exp(-30)))
                               / 6, rtol=1e-14)
    for loss, labels in ((nn.softmax_cross_entropy, np.array([1, 2])), (nn.binary_cross_entropy, y)):
        g = graphad.grad(lambda z: loss(z, labels))(BIG)
        assert np.all(np.isfinite(g)) and np.all(np.abs(g) <= 1)
    g = graphad.compile(graphad.grad(lambda z: nn.logsumexp(z)))(BIG)
    np.testing.assert_allclose(g, np.exp(BIG - 1000.0), rtol=1e-12, atol=1e-300)


def test_probs_loss_is_finite_when_saturated():
    p = np.array([0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    loss = nn.binary_cross_entropy_probs(p, y)
    np.testing.assert_allclose(loss, (2 * -np.log(1e-12) + np.log(2)) / 3, rtol=1e-14)
    g = graphad.grad(lambda q: nn.binary_cross_entropy_probs(q, y))(p)
    assert np.all(np.isfinite(g))


def test_float32_stays_float32():
    z = Z.astype(np.float32)
    for f in (nn.relu, nn.sigmoid, nn.softplus, nn.softmax, nn.log_softmax,
              lambda z: nn.softmax_cross_entropy(z, LABELS),
              lambda z: nn.binary_cross_entropy(z, Y01.astype(np.float32)),
              lambda z: nn.mse(z, T.astype(np.float32), half=True)):
        assert np.asarray(f(z)).dtype == np.float32
        assert graphad.grad(lambda x: graphad.numpy.sum(f(x)))(z).dtype == np.float32


def test_one_hot_and_label_errors():
    np.testing.assert_array_equal(nn.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(graphad.ShapeError, match="integer labels of shape"):
        nn.softmax_cross_entropy(Z, np.array([0, 1]))
    with pytest.raises(graphad.ShapeError, match="do not match"):
        nn.softmax_cross_entropy(Z, ONEHOT[:3])
