"""The network of Table 1 and how a trained one scores frames.

Owns: the network, gradient reversal and the entropy objective (``network``), crops,
standardization and predictions (``scoring``: the one "standardize, encode, softmax"), and
the files of one (fold, seed) run (``run_files``).

May import: :mod:`pipeline.runtime`, :mod:`pipeline.features`, :mod:`pipeline.data`,
:mod:`pipeline.params`. Never training, evaluation, reporting or inference.
"""
