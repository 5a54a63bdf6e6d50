"""The runtime every stage and command stands on: errors, atomic writes, workers, the device.

Owns: the error types that name a file and what was expected (``errors``), write-then-rename
outputs (``atomic``), the ``n_jobs`` rule and worker processes (``workers``), the device
setting and its numerics (``device``), the stage shell that turns errors into one line and a
non-zero exit (``stage``), and the import closure of a module (``imports``), from which the
stages' code dependencies in ``dvc.yaml`` are derived and checked.

May import: the standard library, torch (``device`` only) and :mod:`pipeline.params`
(``device``, for its rule). Imports nothing else of the project.
"""
