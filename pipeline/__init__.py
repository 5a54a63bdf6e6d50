"""MEnAN reference pipeline: speaker-invariant speech emotion recognition as DVC stages.

The package holds pure, tested functions; the scripts in ``stages/`` only read
``params.yaml``, call into here and write outputs. Its parts, in the order data flows:
``runtime`` (the floor), ``data``, ``features``, ``model``, ``training`` and ``evaluation``,
``reporting``, ``inference``; ``params`` and ``regimes`` are read by all. Each part's
docstring says what it owns and what it may import (docs/development.md).
"""

EMOTIONS: tuple[str, ...] = ("ang", "hap", "neu", "sad")
"""The four classes of the paper, in the fixed order used for class indices everywhere."""

__all__ = ["EMOTIONS"]
