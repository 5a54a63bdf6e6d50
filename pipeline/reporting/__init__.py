"""Text and figures: the report, the model card, the lambda sweep. No torch.

Owns: ``reports/report.md`` (``report``), its figures (``figures``), the sweep over
experiments (``sweep``) and the released model's card (``model_card``). Prose lives here
only, so editing a sentence re-renders text and never retrains a model.

May import: :mod:`pipeline.evaluation` (its torch-free ``metrics``, ``statistics``,
``probes`` and ``summary``), :mod:`pipeline.data`, :mod:`pipeline.runtime` (no torch part),
:mod:`pipeline.regimes`, :mod:`pipeline.features.spec` (which front end made the
features). Nothing that imports torch; never imported by training.
"""
