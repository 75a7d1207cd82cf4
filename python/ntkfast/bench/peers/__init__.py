"""The other implementations ``ntkfast bench`` compares with, each optional: timed when
importable, reported as missing otherwise.

- ``nt_kernels``: neural-tangents' infinite-width ``kernel_fn`` (the kernels section);
- ``nt_empirical``: neural-tangents' empirical NTK (the empirical section), in this process or,
  with ``--nt-python``, in another interpreter running ``nt_empirical_worker.py`` by path;
- ``torch_func``: the empirical NTK by PyTorch's torch.func recipe (the empirical section).
"""
