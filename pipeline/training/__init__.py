"""Training the regimes: packed runs, per-epoch checkpoints, seeds, the stage driver.

Owns: ``config`` (the settings a stage trains with), ``gru`` and ``packing`` (R runs as one
network), ``steps`` (one step of each regime), ``inputs`` (batch tables on the device,
validation of a pack), ``selection`` (each fold's best epoch), ``pack`` (a pack's state and
results), ``run`` (the epoch loop of one pack, resumable), ``checkpoint`` (atomic per-epoch
state), ``curves`` (per-epoch curves, kept live), ``driver`` (the stage: plan packs, place
them, show progress, assemble outputs) with ``cluster`` for Dask, ``release`` (one
network per regime on every speaker), and ``erasure`` (the erasure regimes: an eraser
fitted on a trained regime's runs, the emotion classifier retrained).

May import: :mod:`pipeline.model`, :mod:`pipeline.features`, :mod:`pipeline.data`,
:mod:`pipeline.evaluation` (its metrics), :mod:`pipeline.params`, :mod:`pipeline.regimes`,
:mod:`pipeline.runtime`. Imported by nothing of the project but the ``train``,
``release``, ``erase`` and ``erase_release`` stages: a user's ``menan`` and the report run
without it.
"""
