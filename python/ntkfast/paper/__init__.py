"""``ntkfast paper fig1|fig2``: reproduce Figures 1 and 2 of Jacot, Gabriel & Hongler (2018).

- ``command``: the command's arguments and its run (compute, print, draw);
- ``fig1``, ``fig2``: one figure each, its setup, computation (plain numpy data) and printed report;
- ``plot``: draws that data as PNGs with matplotlib, an optional extra (``ntkfast[paper]``).

Not imported by ``import ntkfast``; the ``ntkfast`` command line loads it.
"""
