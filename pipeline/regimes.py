"""The four training regimes of the paper by name: the one place that lists them.

Without torch, so that the settings, the report and the sweep can name regimes without
loading a training engine. What each regime optimises is
:mod:`pipeline.training.steps`; ``dvc.yaml`` repeats the names as stages, and a fast test
(``tests/test_layout.py``) checks it against this module.

- ``ec_only``:   ENC+EC minimise CE_emo.
- ``multitask``: ENC+EC+SC minimise lambda * CE_emo + (1 - lambda) * CE_spk.
- ``dat``:       as multitask, but SC sees v through a gradient reversal layer.
- ``menan``:     SC minimises CE_spk on the detached v; then, SC frozen, ENC+EC minimise
                 lambda * CE_emo - (1 - lambda) * H(SC(v)).
"""

from __future__ import annotations

REGIMES = ("ec_only", "multitask", "dat", "menan")
USES_LAMBDA = ("multitask", "dat", "menan")
"""The regimes whose objective reads ``lambda``: only their stages declare it."""
REFERENCE = "ec_only"
"""The regime with no speaker term: the baseline every comparison and sweep is read against."""
TITLES = {"ec_only": "EC only", "multitask": "Multi-task", "dat": "DAT", "menan": "MEnAN"}
WHAT = {
    "ec_only": "an encoder and emotion classifier trained on emotion alone (no speaker term)",
    "multitask": "an encoder trained to classify emotion and, jointly, the speaker",
    "dat": "an encoder trained on emotion while a gradient-reversal adversary classifies "
    "the speaker (DANN)",
    "menan": "an encoder trained on emotion while maximising the entropy of a speaker "
    "classifier's output (MEnAN, the paper's method)",
}
"""What each regime's network is, in words (the model card's)."""
COMPARISONS = (("menan", "ec_only"), ("menan", "multitask"), ("menan", "dat"),
               ("dat", "multitask"))  # fmt: skip
"""The paired comparisons the report makes (a - b), one Holm family with its measures: the
paper's method against each other regime, and the two adversarial alternatives."""
LOG_KEYS = {
    "ec_only": ("loss", "ce_emo"),
    "multitask": ("loss", "ce_emo", "ce_spk", "sc_acc"),
    "dat": ("loss", "ce_emo", "ce_spk", "sc_acc"),
    "menan": ("loss", "ce_emo", "ce_spk", "entropy", "sc_acc"),
}
"""What a regime's training curve records per epoch, besides validation WA/UA and lr."""
