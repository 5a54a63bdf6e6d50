"""From audio to frames: the paper's 43 channels or a self-supervised model's hidden states,
their Parquet tables, the engine's memory map.

Owns: what a feature table is (``spec``: rates, framing, channel names, pitch range, the
front ends and what frames hold, the record a model keeps), decoding and resampling
(``audio``), the channels' computation (``channels``), RAPT in pristine forks (``rapt``), a
self-supervised model's folder and hidden states (``ssl``), the two front ends behind one
interface (``frontend``), flags for audio a model was not trained for (``quality``), the
parallel extraction over a label table (``extract``), feature tables (``store``), frames of
many utterances with their fold splits (``frame_store``) and the memory-mapped frame cache
the engine reads (``frame_cache``).

May import: :mod:`pipeline.runtime`, :mod:`pipeline.data`. No torch at import time (``ssl``
imports torch and transformers in the functions that run a model).
"""
