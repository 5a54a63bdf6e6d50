"""From audio to frames: the paper's 43 channels, their Parquet tables, the engine's memory map.

Owns: what a feature table is (``spec``: rates, framing, channel names, pitch range, the
settings a model records), decoding and resampling (``audio``), the channels' computation
(``channels``), RAPT in pristine forks (``rapt``), flags for audio a model was not trained
for (``quality``), the parallel extraction over a label table (``extract``), feature tables
(``store``), frames of many utterances with their fold splits (``frame_store``) and the
memory-mapped frame cache the engine reads (``frame_cache``).

May import: :mod:`pipeline.runtime`, :mod:`pipeline.data`. No torch.
"""
