"""Training the regimes: packed runs, per-epoch checkpoints, seeds, the stage driver.

Modules: ``config`` (settings), ``gru`` and ``packing`` (R runs as one network), ``steps``
(one step of each regime), ``inputs`` (batch tables on the device, validation of a pack),
``selection`` (each fold's best epoch), ``pack`` (a pack's state and results), ``run`` (the
epoch loop of one pack, resumable), ``checkpoint`` (atomic per-epoch state) and ``driver``
(the stage: plan packs, place them, show progress, assemble outputs), with ``cluster`` for
Dask. They build on :mod:`pipeline.model`, :mod:`pipeline.inference` and
:mod:`pipeline.run_files`, none of which imports from here.
"""
