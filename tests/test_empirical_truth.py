"""Independent truth for the empirical (finite-width) NTK of ntk-math.md §3.

    Θ_kk'(x, x') = Σ_p ∂f_k(x)/∂θ_p · ∂f_k'(x')/∂θ_p

(a) The numpy reference against explicit Jacobians of tiny networks, built two ways that share
    nothing with ntkfast: forward-mode chain rule, one tangent per parameter (no back-propagated
    δ, no layerwise identity), to 1e-12; and central finite differences of a forward pass written
    here, to 1e-7 (which also checks the analytic Jacobian).
(b) apply / net(x) against that forward pass.
(c) The fast code at growing width against the infinite-width kernels ntkfast.ntk / nngp
    (Thm. 1): relative error ~ n^(-1/2), off-diagonal output blocks -> 0.
(d) Symmetry (exact) and positive semi-definiteness, fast and reference.

Output conventions under test (ntkfast.empirical_ntk docstring): "full" is Θ_kk' with shape
(N1, N2, n_L, n_L), "diagonal" is Θ_kk (N1, N2, n_L), "trace" is the *mean* over outputs of Θ_kk
(so that it converges to ntkfast.ntk). per_layer[l] is the part of the sum over p that runs over
the parameters W^(l), b^(l). empirical_nngp is s_w² a^(L-1)·a^(L-1)' + s_b², i.e. the
Jacobian Gram of any one output with respect to the last layer's parameters.
"""
from __future__ import annotations

import math

import ntkfast
from conftest import mlp_forward, mlp_scales
import numpy as np
import pytest
from ntkfast import activations, reference

IMPLS = [pytest.param(ntkfast, id="fast"), pytest.param(reference, id="reference")]

# ---------------------------------------------------------------------------------------------
# Activations and derivatives written out here, independently of ntkfast.activations.
# ---------------------------------------------------------------------------------------------
_erf = np.frompyfunc(math.erf, 1, 1)


def erf(z):
    return _erf(z).astype(np.float64)


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def std_normal_cdf(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


def relu_like(a, b):
    return (lambda z: np.where(z > 0, b * z, a * z), lambda z: np.where(z > 0, b, a) + 0.0 * z)


def _bump(z):  # a user's function: no parity, no closed form
    return np.tanh(z) + 0.3 * np.exp(-z * z)


def _bump_prime(z):
    return 1.0 - np.tanh(z) ** 2 - 0.6 * z * np.exp(-z * z)


TRUTH = {  # activation= argument -> (phi, phi', smooth)
    "relu": (*relu_like(0.0, 1.0), False),
    "leaky_relu": (*relu_like(0.01, 1.0), False),
    "abs": (*relu_like(-1.0, 1.0), False),
    "erf": (erf, lambda z: 2 / math.sqrt(math.pi) * np.exp(-z * z), True),
    "identity": (lambda z: z + 0.0, lambda z: np.ones_like(z), True),
    "sin": (np.sin, np.cos, True),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, True),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * sigmoid(-z), True),
    "softplus": (lambda z: np.logaddexp(0.0, z), sigmoid, True),
    "gelu": (lambda z: z * std_normal_cdf(z),
             lambda z: std_normal_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), True),
    "silu": (lambda z: z * sigmoid(z), lambda z: sigmoid(z) * (1.0 + z * sigmoid(-z)), True),
    # elu (alpha = 1) is C^1: its second derivative jumps at 0, so FD is still fine away from 0.
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
            lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))), False),
    "custom": (_bump, _bump_prime, True),
}
assert set(activations.NAMES) <= set(TRUTH), "a new activation needs a truth entry here"


def spec(name):
    return activations.custom(_bump, _bump_prime) if name == "custom" else name


# ---------------------------------------------------------------------------------------------
# A network written out here: parameters, scales (ntk-math.md §1 / networks.py docstring),
# forward pass, and the explicit Jacobian.
# ---------------------------------------------------------------------------------------------
def draw_params(widths, rng, parameterization, weight_std, bias_std):
    ws, bs = [], []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        w, b = rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
        if parameterization == "standard":
            w, b = w * weight_std / math.sqrt(n_in), b * bias_std
        ws.append(w)
        bs.append(b)
    return ws, bs


def jacobian(ws, bs, sw, sb, phi, dphi, x):
    """Forward-mode chain rule with one tangent per parameter: J (N, n_L, P), the parameters
    ordered layer by layer as W^(l) (row-major) then b^(l); and each layer's column range.

    For parameter W^(l)_ij the tangent of z^(l+1) is s_w a^(l)_j e_i, for b^(l)_i it is s_b e_i;
    earlier tangents pass through z^(l+1) = s_w W^(l) a^(l) + ... as s_w W^(l) (φ'(z^(l)) ∘ dz^(l)).
    """
    n_pts = x.shape[0]
    a = x
    dz = np.zeros((0, n_pts, x.shape[1]))  # tangents of z feeding the current layer: (P, N, n)
    da = dz
    cols, start = [], 0
    for l, (w, b) in enumerate(zip(ws, bs)):
        n_out, n_in = w.shape
        z = sw[l] * (a @ w.T) + sb * b
        old = sw[l] * (da @ w.T)  # (P_prev, N, n_out)
        eye = np.eye(n_out)
        new_w = sw[l] * np.einsum("ik,nj->ijnk", eye, a).reshape(n_out * n_in, n_pts, n_out)
        new_b = sb * np.broadcast_to(eye[:, None, :], (n_out, n_pts, n_out))
        dz = np.concatenate([old, new_w, new_b])
        cols.append(slice(start, start + n_out * (n_in + 1)))
        start += n_out * (n_in + 1)
        if l < len(ws) - 1:
            a = phi(z)
            da = dphi(z)[None] * dz
    return dz.transpose(1, 2, 0), cols


def fd_jacobian(ws, bs, sw, sb, phi, x, h=1e-6):
    """Central differences of `forward` over every parameter, same ordering as `jacobian`."""
    flat = [p for wb in zip(ws, bs) for p in wb]
    cols = []
    for p in flat:
        for idx in np.ndindex(p.shape):
            keep = p[idx]
            p[idx] = keep + h
            up = mlp_forward(ws, bs, sw, sb, phi, x)
            p[idx] = keep - h
            down = mlp_forward(ws, bs, sw, sb, phi, x)
            p[idx] = keep
            cols.append((up - down) / (2 * h))
    return np.stack(cols, axis=-1)


def min_abs_preactivation(ws, bs, sw, sb, phi, x):
    a, out = x, np.inf
    for l, (w, b) in enumerate(list(zip(ws, bs))[:-1]):
        z = sw[l] * (a @ w.T) + sb * b
        out = min(out, np.abs(z).min())
        a = phi(z)
    return out


def gram(J1, J2, output):
    """Θ from Jacobians in each output mode."""
    full = np.einsum("ikp,jmp->ijkm", J1, J2)
    if output == "full":
        return full
    diag = np.einsum("ijkk->ijk", full)
    return diag if output == "diagonal" else diag.mean(axis=2)


def cs_scale(J1, J2, output):
    """Cauchy–Schwarz bound of each entry: ||J1[i,k]|| ||J2[j,m]|| (mean over k for trace)."""
    n1, n2 = np.linalg.norm(J1, axis=2), np.linalg.norm(J2, axis=2)
    full = n1[:, None, :, None] * n2[None, :, None, :]
    if output == "full":
        return full
    diag = np.einsum("ijkk->ijk", full)
    return diag if output == "diagonal" else diag.mean(axis=2)


def assert_close_scaled(actual, expected, scale, tol, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), what
    floor = 1e-6 * scale.max()
    err = np.abs(actual - expected) / np.maximum(scale, floor)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= tol, (f"{what}: error {err[worst]:.3g} > {tol:.3g} at {worst}: "
                               f"got {actual[worst]!r}, expected {expected[worst]!r}")


def make_case(widths, act, parameterization, bias_std, weight_std=1.3, seed=0, n1=4, n2=3):
    rng = np.random.default_rng([seed, len(widths), sum(widths)])
    ws, bs = draw_params(widths, rng, parameterization, weight_std, bias_std)
    net = ntkfast.MLP([w.copy() for w in ws], [b.copy() for b in bs], activation=spec(act),
                      weight_std=weight_std, bias_std=bias_std, parameterization=parameterization)
    x1 = rng.standard_normal((n1, widths[0]))
    x2 = rng.standard_normal((n2, widths[0]))
    sw, sb = mlp_scales(widths, parameterization, weight_std, bias_std)
    return net, ws, bs, sw, sb, x1, x2


# Widths covering depth 1..4, one output and several, hidden layers wider and narrower than
# the input.
WIDTHS = [[3, 2], [2, 3, 1], [3, 5, 4, 2], [4, 3, 6, 2, 3], [2, 1, 1]]
WIDTH_IDS = ["-".join(map(str, w)) for w in WIDTHS]


def _analytic_cases():
    out = []
    for a_index, act in enumerate(TRUTH):
        for w_index, widths in enumerate(WIDTHS):
            k = a_index + w_index
            par = ("ntk", "standard")[k % 2]
            bias = (0.0, 0.7)[(k // 2) % 2]
            out.append(pytest.param(act, widths, par, bias,
                                    id=f"{act}-{WIDTH_IDS[w_index]}-{par}-b{bias}"))
    return out


# ---------------------------------------------------------------------------------------------
# (a) reference vs explicit Jacobians
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act, widths, parameterization, bias_std", _analytic_cases())
def test_reference_matches_analytic_jacobian(act, widths, parameterization, bias_std):
    phi, dphi, _ = TRUTH[act]
    net, ws, bs, sw, sb, x1, x2 = make_case(widths, act, parameterization, bias_std)
    J1, cols = jacobian(ws, bs, sw, sb, phi, dphi, x1)
    J2, _ = jacobian(ws, bs, sw, sb, phi, dphi, x2)
    assert J1.shape == (len(x1), widths[-1], net.n_params)
    for output in ("full", "diagonal", "trace"):
        for a, b, xb in ((J1, J1, None), (J1, J2, x2)):
            want = gram(a, b, output)
            scale = cs_scale(a, b, output)
            got = reference.empirical_ntk(net, x1, xb, output=output)
            what = f"{output}, x2={'None' if xb is None else 'given'}"
            assert_close_scaled(got, want, scale, 1e-12, what)
            res = reference.empirical_ntk(net, x1, xb, output=output, per_layer=True)
            assert isinstance(res, ntkfast.EmpiricalNTK)
            np.testing.assert_array_equal(res.ntk, got)
            assert res.per_layer.shape == (len(ws),) + want.shape
            for l, c in enumerate(cols):
                assert_close_scaled(res.per_layer[l], gram(a[..., c], b[..., c], output), scale,
                                    1e-12, f"{what}, per_layer[{l}]")
        # empirical NNGP: Gram of output 0's Jacobian with respect to the last layer only
        last = cols[-1]
        for a, b, xb in ((J1, J1, None), (J1, J2, x2)):
            want = gram(a[:, :1, last], b[:, :1, last], "trace")
            assert_close_scaled(reference.empirical_nngp(net, x1, xb), want,
                                cs_scale(a[:, :1, last], b[:, :1, last], "trace"), 1e-12, "nngp")


def _fd_cases():
    """Every activation where central differences are meaningful; relu-like ones with inputs
    checked to be 1e-4 away from every kink."""
    out = []
    for a_index, act in enumerate(TRUTH):
        for w_index, widths in enumerate([[2, 3, 1], [3, 5, 4, 2], [2, 4, 3, 3, 2]]):
            k = a_index + w_index
            par = ("ntk", "standard")[k % 2]
            bias = (0.0, 0.5)[(k // 2) % 2]
            out.append(pytest.param(act, widths, par, bias,
                                    id=f"{act}-{'-'.join(map(str, widths))}-{par}-b{bias}"))
    return out


@pytest.mark.parametrize("act, widths, parameterization, bias_std", _fd_cases())
def test_reference_matches_finite_difference_jacobian(act, widths, parameterization, bias_std):
    phi, dphi, smooth = TRUTH[act]
    net, ws, bs, sw, sb, x1, x2 = make_case(widths, act, parameterization, bias_std, seed=7)
    if not smooth:
        for x in (x1, x2):
            assert min_abs_preactivation(ws, bs, sw, sb, phi, x) > 1e-4, "inputs too near a kink"
    F1, F2 = fd_jacobian(ws, bs, sw, sb, phi, x1), fd_jacobian(ws, bs, sw, sb, phi, x2)
    # The analytic Jacobian used in the 1e-12 test agrees with finite differences.
    J1, _ = jacobian(ws, bs, sw, sb, phi, dphi, x1)
    np.testing.assert_allclose(F1, J1, rtol=0, atol=1e-7 * np.abs(J1).max())
    for output in ("full", "diagonal", "trace"):
        for a, b, xb in ((F1, F1, None), (F1, F2, x2)):
            assert_close_scaled(reference.empirical_ntk(net, x1, xb, output=output),
                                gram(a, b, output), cs_scale(a, b, output), 1e-7, output)


def test_trace_is_the_mean_of_the_diagonal_and_diagonal_of_full():
    """The three output modes are views of one Θ (reference and fast)."""
    net = ntkfast.init_mlp([3, 6, 5, 4], activation="tanh", bias_std=0.2, seed=3)
    x1 = np.random.default_rng(3).standard_normal((5, 3))
    x2 = np.random.default_rng(4).standard_normal((4, 3))
    for impl in (reference, ntkfast):
        for xb in (None, x2):
            full = impl.empirical_ntk(net, x1, xb, output="full")
            diag = impl.empirical_ntk(net, x1, xb, output="diagonal")
            tr = impl.empirical_ntk(net, x1, xb, output="trace")
            np.testing.assert_allclose(diag, np.einsum("ijkk->ijk", full), rtol=1e-13, atol=0)
            np.testing.assert_allclose(tr, diag.mean(axis=2), rtol=1e-13, atol=1e-15)


def test_depth_one_is_the_affine_kernel():
    """L = 1: f = s_w W x + s_b b, so Θ_kk' = δ_kk' (s_w² x·x' + s_b²) = NNGP ⊗ Id."""
    rng = np.random.default_rng(11)
    x1, x2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    for par, sw2, sb2 in (("ntk", 1.7**2 / 4, 0.3**2), ("standard", 1.0, 1.0)):
        net = ntkfast.init_mlp([4, 3], weight_std=1.7, bias_std=0.3, parameterization=par, seed=1)
        want = sw2 * x1 @ x2.T + sb2
        for impl in IMPLS:
            impl = impl.values[0]
            np.testing.assert_allclose(impl.empirical_ntk(net, x1, x2), want, rtol=1e-14)
            np.testing.assert_allclose(impl.empirical_nngp(net, x1, x2), want, rtol=1e-14)
            full = impl.empirical_ntk(net, x1, x2, output="full")
            np.testing.assert_allclose(full, want[..., None, None] * np.eye(3), rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------
# (b) the forward pass
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act", list(TRUTH))
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_apply_matches_plain_forward(impl, act, parameterization):
    phi = TRUTH[act][0]
    widths = [4, 7, 5, 3] if act != "identity" else [4, 2]
    net, ws, bs, sw, sb, x1, _ = make_case(widths, act, parameterization, 0.4, n1=9)
    want = mlp_forward(ws, bs, sw, sb, phi, x1)
    got = impl.apply(net, x1)
    assert got.shape == (9, widths[-1]) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14 * np.abs(want).max())
    if impl is ntkfast:
        np.testing.assert_array_equal(net(x1), got)


def test_apply_float32_network():
    net, ws, bs, sw, sb, x1, _ = make_case([4, 8, 6, 2], "tanh", "ntk", 0.4, n1=9)
    net32 = net.astype(np.float32)
    want = mlp_forward([w.astype(np.float32).astype(float) for w in ws],
                   [b.astype(np.float32).astype(float) for b in bs], sw, sb, np.tanh,
                   x1.astype(np.float32).astype(float))
    for impl in (ntkfast, reference):
        got = impl.apply(net32, x1)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


# ---------------------------------------------------------------------------------------------
# (c) convergence to the infinite-width kernels (Thm. 1)
# ---------------------------------------------------------------------------------------------
CONV_WIDTHS = np.array([256, 512, 1024, 2048, 4096])
CONV_SEEDS = 3


def _slope(errors):
    return np.polyfit(np.log(CONV_WIDTHS), np.log(errors), 1)[0]


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.slow
@pytest.mark.parametrize("act, weight_std, bias_std, n_out", [
    ("relu", math.sqrt(2.0), 0.1, 1),
    ("erf", 1.5, 0.2, 3),
])
def test_empirical_kernels_converge_to_infinite_width(act, weight_std, bias_std, n_out):
    """Relative Frobenius error of the empirical NTK / NNGP of [8, n, n, n_out] networks vs
    Θ^(3) / Σ^(3), root-mean-square over seeds. Thm. 1: fluctuations O(n^-1/2) plus an O(1/n)
    bias, so the log-log slope must be about -1/2 (measured -0.45 to -0.55; we accept
    [-0.75, -0.3]) and the error at n = 4096 small (measured ~0.03-0.05). A wrong scale anywhere
    (σ_w, β, 1/sqrt(n_l)) leaves an O(1) error that does not decay. For n_out = 3 the
    off-diagonal blocks Θ_kk', k != k', must vanish at the same rate and each Θ_kk converge."""
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((20, 8))
    kw = {"depth": 3, "activation": act, "weight_std": weight_std, "bias_std": bias_std}
    theta, sigma = ntkfast.ntk(x, **kw), ntkfast.nngp(x, **kw)
    err = {"trace": [], "nngp": [], "off": [], "each": []}
    for n in CONV_WIDTHS:
        e = {k: [] for k in err}
        for seed in range(CONV_SEEDS):
            net = ntkfast.init_mlp([8, n, n, n_out], activation=act, weight_std=weight_std,
                                   bias_std=bias_std, seed=[int(n), seed])
            e["nngp"].append(_rel(ntkfast.empirical_nngp(net, x), sigma))
            if n_out == 1:
                e["trace"].append(_rel(ntkfast.empirical_ntk(net, x), theta))
                continue
            full = ntkfast.empirical_ntk(net, x, output="full")
            diag = np.einsum("ijkk->ijk", full)
            e["trace"].append(_rel(diag.mean(axis=2), theta))
            e["each"].append(max(_rel(diag[..., k], theta) for k in range(n_out)))
            off = full * (1 - np.eye(n_out))
            e["off"].append(np.linalg.norm(off) / (np.linalg.norm(theta) * math.sqrt(n_out * (n_out - 1))))
        for k, values in e.items():
            if values:
                err[k].append(math.sqrt(np.mean(np.square(values))))
    for k, errors in err.items():
        if not errors:
            continue
        slope = _slope(errors)
        assert -0.75 <= slope <= -0.3, f"{k}: errors {np.round(errors, 4)} have slope {slope:.3g}"
        assert errors[-1] < 0.1, f"{k}: error {errors[-1]:.3g} at width 4096"
        assert errors[0] > errors[-1] * 2.5, f"{k}: errors {np.round(errors, 4)} do not decrease"


def test_parameterizations_same_function_different_kernel():
    """A standard-parameterization copy of an ntk network (arrays s_w W, s_b b) computes the
    same function, but its tangent kernel is taken with respect to other arrays (networks.py
    docstring): the last layer's term is a·a' + 1 instead of s_w² a·a' + s_b²."""
    ntk_net = ntkfast.init_mlp([3, 6, 5, 2], activation="tanh", weight_std=1.2, bias_std=0.4, seed=5)
    sw = [1.2 / math.sqrt(n) for n in ntk_net.widths[:-1]]
    std_net = ntkfast.MLP([s * w for s, w in zip(sw, ntk_net.weights)],
                          [0.4 * b for b in ntk_net.biases], activation="tanh", weight_std=1.2,
                          bias_std=0.4, parameterization="standard")
    x = np.random.default_rng(5).standard_normal((6, 3))
    for impl in (reference, ntkfast):
        np.testing.assert_allclose(impl.apply(std_net, x), impl.apply(ntk_net, x), rtol=1e-13)
        a = impl.empirical_ntk(ntk_net, x, output="full", per_layer=True)
        b = impl.empirical_ntk(std_net, x, output="full", per_layer=True)
        last_ntk = impl.empirical_nngp(ntk_net, x)
        last_std = impl.empirical_nngp(std_net, x)
        dot = (last_ntk - 0.4**2) / sw[-1] ** 2  # a^(L-1)·a^(L-1)'
        np.testing.assert_allclose(last_std, dot + 1.0, rtol=1e-12)
        for k in range(2):
            np.testing.assert_allclose(b.per_layer[-1][..., k, k], last_std, rtol=1e-12)
            np.testing.assert_allclose(a.per_layer[-1][..., k, k], last_ntk, rtol=1e-12)
        assert not np.allclose(a.ntk, b.ntk)


# ---------------------------------------------------------------------------------------------
# (d) symmetry and positive semi-definiteness
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act, n_out, parameterization", [
    ("relu", 1, "ntk"), ("tanh", 3, "standard"), ("erf", 4, "ntk"), ("custom", 2, "ntk"),
    ("abs", 3, "ntk"),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symmetric_and_psd(impl, act, n_out, parameterization, dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((23, 5))
    x[7] = x[3]  # a duplicated point: the Gram is singular there
    net = ntkfast.init_mlp([5, 16, 12, n_out], activation=spec(act), bias_std=0.3,
                           parameterization=parameterization, seed=9, dtype=dtype)
    full = impl.empirical_ntk(net, x, output="full")
    np.testing.assert_array_equal(full, full.transpose(1, 0, 3, 2))
    diag = impl.empirical_ntk(net, x, output="diagonal")
    np.testing.assert_array_equal(diag, diag.transpose(1, 0, 2))
    tr = impl.empirical_ntk(net, x)
    np.testing.assert_array_equal(tr, tr.T)
    nngp = impl.empirical_nngp(net, x)
    np.testing.assert_array_equal(nngp, nngp.T)
    layers = impl.empirical_ntk(net, x, output="full", per_layer=True).per_layer
    np.testing.assert_array_equal(layers, layers.transpose(0, 2, 1, 4, 3))

    eps_rel = 1e-10 if dtype == np.float64 else 1e-5
    n = len(x)
    gram_big = full.astype(np.float64).transpose(0, 2, 1, 3).reshape(n * n_out, n * n_out)
    mats = [("full", gram_big), ("trace", tr), ("nngp", nngp)]
    mats += [(f"diagonal[{k}]", diag[..., k]) for k in range(n_out)]
    mats += [(f"per_layer[{l}]", m.astype(np.float64).transpose(0, 2, 1, 3).reshape(n * n_out, -1))
             for l, m in enumerate(layers)]
    for what, m in mats:
        ev = np.linalg.eigvalsh(np.asarray(m, dtype=np.float64))
        assert ev[0] >= -eps_rel * ev[-1], f"{what}: smallest eigenvalue {ev[0]:.3g}, largest {ev[-1]:.3g}"
    # the duplicated point gives the same row (to rounding: tiles may sum in another order)
    np.testing.assert_allclose(tr[7], tr[3], rtol=0, atol=8 * np.finfo(dtype).eps * np.abs(tr).max())
