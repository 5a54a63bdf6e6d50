"""Training the regimes: packed runs, per-epoch checkpoints, seeds, the stage driver.

Modules: ``config`` (settings), ``gru`` and ``packing`` (R runs as one network),
``inputs`` (batches on the device), ``run`` (the epoch loop of one pack, resumable),
``checkpoint`` (atomic per-epoch state), ``outputs`` (per fold and seed files, inference),
``frame_cache`` (the feature tables as one memory map shared by all workers) and
``driver`` (the stage: plan packs, run them in workers, show progress, assemble outputs).
"""
