"""From audio to frames: the paper's 43 channels, their Parquet tables, the engine's memory map.

Owns: decoding and resampling (``audio``), the channels and their settings (``channels``,
the one place that defines them), RAPT in pristine forks (``rapt``), flags for audio a model
was not trained for (``quality``), the parallel extraction over a label table (``extract``),
feature tables (``store``) and the memory-mapped frame cache the engine reads (``frame_cache``).

May import: :mod:`pipeline.runtime`, :mod:`pipeline.data`. No torch.
"""
