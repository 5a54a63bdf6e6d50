"""Corpora as label tables: readers of every on-disk layout, the demo corpora, the folds.

Owns: the corpus readers (``corpora``: one module per layout, one rule for listing files),
the deterministic demo corpora (``demo``), the label table schema and its Parquet files
(``labels``), WAV header checks (``audio_check``) and the fold protocols (``folds``, with
the typed :class:`~pipeline.data.folds.Fold` every later stage reads).

May import: :mod:`pipeline.runtime` and the package root. No torch, no features.
"""
