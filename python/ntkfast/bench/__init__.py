"""``ntkfast bench``: ntkfast timed against the numpy reference and, where importable, other
implementations, on built-in random data, with the issue's performance checks.

Four sections, each a module that runs it (``options``, ``run``, ``report``):

- ``kernels``: the infinite-width ``ntk(x)`` against ``reference.ntk`` and neural-tangents;
- ``empirical``: ``empirical_ntk`` of a finite MLP against the reference, numpy's BLAS floor of the
  method, torch.func and neural-tangents, and the peak memory of large calls (``empirical_memory``,
  one subprocess each);
- ``dynamics``: ``kernel_gd`` against the reference's accuracy-matched RK4, the kernel product
  against the memory-bandwidth floor, and ``train`` against the reference loop and the BLAS floor;
- ``regression``: ``nystrom_krr`` (Nyström + Falkon's preconditioned CG) at N = 1e6 and 1e5: fit
  time against one K(X, C) pass, iterations, prediction, peak memory (``regression_case``, one
  subprocess each), test error against the teacher.

Shared: ``timing`` (how a cell is timed, contention), ``machine`` (what it ran on), ``reporting``
(cells, tables, checks, JSON); ``peers`` holds the optional comparators; ``command`` is the
command line. Not imported by ``import ntkfast``; the ``ntkfast`` command line loads it.
"""
