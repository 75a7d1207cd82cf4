"""torch.func's empirical NTK, the optional comparator of the empirical section.

The recipe of PyTorch's "Neural Tangent Kernels" tutorial: ``vmap(jacrev(f))`` over
``functional_call`` for the per-example Jacobians, then ``einsum('Naf,Mbf->NMab')`` per parameter
and the sum (the Jacobians are computed once since x2 is x1), on a torch module that holds copies
of our arrays and applies the same scales. When the Jacobians would not fit in half the available
memory they are computed for row blocks.
"""
from __future__ import annotations

import numpy as np


class TorchFunc:
    """torch.func, when importable: ``caller`` builds the timed call."""

    def __init__(self):
        self.status, self.version = "not installed", None
        try:
            import torch
            from torch.func import functional_call, jacrev, vmap  # noqa: F401
        except ImportError:
            return
        except Exception as exc:  # broken install: say so, carry on without it
            self.status = f"import failed ({type(exc).__name__}: {exc})"
            return
        self.torch = torch
        self.version = torch.__version__
        self.status = "ok"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def module(self, net, dtype: str):
        """A torch.nn.Module with copies of net's arrays, computing the same function."""
        from ..._mlp import checked

        torch = self.torch
        cn = checked(net)
        acts = {"relu": torch.relu, "tanh": torch.tanh, "erf": torch.special.erf,
                "identity": lambda z: z}
        if cn.activation.name not in acts:
            raise ValueError(f"no torch version of activation {cn.activation.name!r} here")
        act = acts[cn.activation.name]
        tdt = getattr(torch, dtype)

        class MLP(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.weights = torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(np.asarray(w), dtype=tdt)) for w in cn.weights])
                self.biases = torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(np.asarray(b), dtype=tdt)) for b in cn.biases])

            def forward(self, a):
                L = len(self.weights)
                for l in range(L):  # z = s_w W a + s_b b (NTK parameterization: s_w = σ_w/sqrt(n_l))
                    z = cn.weight_scales[l] * (a @ self.weights[l].T) + cn.bias_scale * self.biases[l]
                    if l < L - 1:
                        a = act(z)
                return z
        return MLP()

    def block_rows(self, n: int, n_out: int, p: int, itemsize: int) -> int:
        """Rows per Jacobian block: everything if it fits in half the available memory, else
        blocks of which two fit there."""
        from ..._validation import available_memory_bytes

        row = n_out * p * itemsize
        budget = available_memory_bytes() // 2
        return n if n * row <= budget else max(1, budget // (2 * row))

    def caller(self, net, x: np.ndarray, dtype: str, output: str = "trace", threads=None):
        """(call, n_blocks): ``call()`` returns the empirical NTK of x (x2=None) as numpy."""
        import ntkfast

        torch = self.torch
        from torch.func import functional_call, jacrev, vmap

        torch.set_num_threads(threads if threads and threads > 0 else ntkfast.get_num_threads())
        model = self.module(net, dtype)
        params = {k: v.detach() for k, v in model.named_parameters()}
        xt = torch.tensor(np.asarray(x), dtype=getattr(torch, dtype))
        n, n_out = xt.shape[0], net.widths[-1]
        block = self.block_rows(n, n_out, net.n_params, np.dtype(dtype).itemsize)

        def fnet_single(p, xi):
            return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

        def jacobians(xb):
            jac = vmap(jacrev(fnet_single), (None, 0))(params, xb)
            return [j.flatten(2) for j in jac.values()]

        def contract(j1, j2):
            return torch.stack([torch.einsum("Naf,Mbf->NMab", a, b) for a, b in zip(j1, j2)]).sum(0)

        def call():
            with torch.no_grad():
                if block >= n:
                    jac = jacobians(xt)
                    k = contract(jac, jac)
                    del jac
                else:  # the tutorial's function on row blocks of x1 and x2 (upper triangle)
                    k = torch.empty((n, n, n_out, n_out), dtype=xt.dtype)
                    for i0 in range(0, n, block):
                        ji = jacobians(xt[i0:i0 + block])
                        for j0 in range(i0, n, block):
                            jj = ji if j0 == i0 else jacobians(xt[j0:j0 + block])
                            t = contract(ji, jj)
                            k[i0:i0 + block, j0:j0 + block] = t
                            k[j0:j0 + block, i0:i0 + block] = t.permute(1, 0, 3, 2)
                            del jj, t
                        del ji
                if output == "trace":
                    k = torch.diagonal(k, dim1=2, dim2=3).mean(-1)
                return k.numpy()
        return call, -(-n // block)

