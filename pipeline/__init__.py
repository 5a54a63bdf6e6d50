"""MEnAN reference pipeline: speaker-invariant speech emotion recognition as DVC stages.

The package holds pure, tested functions; the scripts in ``stages/`` only read
``params.yaml``, call into here and write outputs.
"""

EMOTIONS: tuple[str, ...] = ("ang", "hap", "neu", "sad")
"""The four classes of the paper, in the fixed order used for class indices everywhere."""

__all__ = ["EMOTIONS"]
