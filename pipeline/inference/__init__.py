"""A released model on the user's audio: ``EmotionModel``, the ``menan`` command, ONNX.

Owns: :class:`~pipeline.inference.emotion_model.EmotionModel` (checks, windows, predict,
embed), the ``menan`` command line (``cli``), ONNX export (``onnx_export``) and what the
command may write (``user_output``: never a folder, an input or a model file).

May import: :mod:`pipeline.model`, :mod:`pipeline.features`, :mod:`pipeline.data`,
:mod:`pipeline.runtime`, :mod:`pipeline.params`, :mod:`pipeline.regimes`. Never training,
evaluation or reporting: a user's command runs without them.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``from pipeline.inference import EmotionModel``, loaded on first use, so importing
    one module of this package (``user_output``, say) does not load the model code."""
    if name == "EmotionModel":
        from pipeline.inference.emotion_model import EmotionModel

        return EmotionModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
