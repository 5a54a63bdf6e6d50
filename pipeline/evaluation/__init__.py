"""Scoring trained runs: Table 2, cross-corpus Table 3, probes and their statistics.

Owns: WA and UA (``metrics``), one regime's evaluation (``regime``), the speaker, gender
and emotion probes (``probes``), corrected intervals, the Holm family and the seed plan
(``statistics``), the null simulation (``calibration``) and the evaluation folder's layout
with its headline (``summary``, the one reader and writer of ``summary.json``).

May import: :mod:`pipeline.model`, :mod:`pipeline.features`, :mod:`pipeline.data`,
:mod:`pipeline.params`, :mod:`pipeline.regimes`, :mod:`pipeline.runtime`. Never training,
reporting or inference.
"""
