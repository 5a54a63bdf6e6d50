"""The regimes by name: the one place that lists them.

Without torch, so that the settings, the report and the sweep can name regimes without
loading a training engine. The four of the paper are trained end to end by the packed
engine (:mod:`pipeline.training.steps` says what each optimises):

- ``ec_only``:   ENC+EC minimise CE_emo.
- ``multitask``: ENC+EC+SC minimise lambda * CE_emo + (1 - lambda) * CE_spk.
- ``dat``:       as multitask, but SC sees v through a gradient reversal layer.
- ``menan``:     SC minimises CE_spk on the detached v; then, SC frozen, ENC+EC minimise
                 lambda * CE_emo - (1 - lambda) * H(SC(v)).

Two more are ours, not the paper's (:mod:`pipeline.training.erasure`): a closed-form
concept eraser fitted on a trained regime's embeddings of its training speakers, then the
emotion classifier retrained on the erased embeddings:

- ``ec_leace``:  EC only's encoder, LEACE (Belrose et al. 2023) on v.
- ``ec_kleace``: EC only's encoder, LEACE on fixed random Fourier features of v (an RBF
                 kernel's), so that it removes more than the linear trace.

``dvc.yaml`` repeats the names as stages, and a fast test (``tests/test_layout.py``) checks
it against this module.
"""

from __future__ import annotations

TRAINED = ("ec_only", "multitask", "dat", "menan")
"""The paper's regimes: trained from scratch by ``train@<regime>``."""
ERASED = {"ec_leace": ("ec_only", "leace"), "ec_kleace": ("ec_only", "kernel")}
"""Erasure regime: (the trained regime whose encoder it erases, the eraser); built by
``erase@<regime>`` from that regime's runs."""
ERASERS = {"leace": "LEACE on v", "kernel": "LEACE on random Fourier features of v"}
"""The erasers by name, in words."""
REGIMES = (*TRAINED, *ERASED)
"""Every regime evaluated, released and reported, in the report's order."""
USES_LAMBDA = ("multitask", "dat", "menan")
"""The regimes whose objective reads ``lambda``: only their stages declare it."""
ADVERSARIAL = ("dat", "menan")
"""The regimes with an adversary: each reads its own ``adversary.<regime>`` settings."""


def params_read(regime: str) -> tuple[str, ...]:
    """The params.yaml keys (a section, or a dotted key inside one) a regime's training
    reads, which its stages declare (``dvc.yaml`` vars; checked by ``tests/test_layout.py``)
    and its model card prints. An erasure regime reads its base regime's settings through
    the base's runs; only the kernel eraser reads ``erase.kernel_features``."""
    erase = () if regime not in ERASED else (
        ("erase",) if ERASED[regime][1] == "kernel" else ("erase.epochs",)
    )  # fmt: skip
    return ("train", *(["lambda"] if regime in USES_LAMBDA else []),
            *([f"adversary.{regime}"] if regime in ADVERSARIAL else []), *erase)  # fmt: skip


def reads(regime: str, key: str) -> bool:
    """Whether ``regime``'s training reads the dotted params ``key`` (a change to it can
    change the regime's results)."""
    return any(key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.")
               for k in params_read(regime))  # fmt: skip


REFERENCE = "ec_only"
"""The regime with no speaker term: the baseline every comparison and sweep is read against."""
TITLES = {"ec_only": "EC only", "multitask": "Multi-task", "dat": "DAT", "menan": "MEnAN",
          "ec_leace": "EC only + LEACE", "ec_kleace": "EC only + kernel LEACE"}  # fmt: skip
WHAT = {
    "ec_only": "an encoder and emotion classifier trained on emotion alone (no speaker term)",
    "multitask": "an encoder trained to classify emotion and, jointly, the speaker",
    "dat": "an encoder trained on emotion while a gradient-reversal adversary classifies "
    "the speaker (DANN)",
    "menan": "an encoder trained on emotion while maximising the entropy of a speaker "
    "classifier's output (MEnAN, the paper's method)",
    "ec_leace": "EC only's encoder, then a LEACE eraser fitted on its training speakers' "
    "embeddings (after it, those speakers' mean embeddings are equal on the utterances it "
    "was fitted on), and the emotion classifier retrained on the erased embeddings",
    "ec_kleace": "EC only's encoder, then fixed random Fourier features of the embedding (an "
    "RBF kernel's) with a LEACE eraser fitted on its training speakers, and the emotion "
    "classifier retrained on the erased features",
}
"""What each regime's network is, in words (the model card's)."""
COMPARISONS = (("multitask", "ec_only"), ("dat", "ec_only"), ("menan", "ec_only"),
               ("ec_leace", "ec_only"), ("ec_kleace", "ec_only"), ("menan", "multitask"),
               ("menan", "dat"), ("dat", "multitask"), ("ec_leace", "menan"))  # fmt: skip
"""The paired comparisons the report makes (a - b), one Holm family with its measures: every
regime against EC only (what its speaker term or eraser removed, and what that cost), the
paper's method against the other two with a speaker term, the two adversarial alternatives,
and the linear eraser against the paper's method."""
LOG_KEYS = {
    "ec_only": ("loss", "ce_emo"),
    "multitask": ("loss", "ce_emo", "ce_spk", "sc_acc"),
    "dat": ("loss", "ce_emo", "ce_spk", "sc_acc"),
    "menan": ("loss", "ce_emo", "ce_spk", "entropy", "sc_acc"),
    "ec_leace": ("loss", "ce_emo"),
    "ec_kleace": ("loss", "ce_emo"),
}
"""What a regime's training curve records per epoch, besides validation WA/UA and lr (an
erasure regime's: the retrained emotion classifier's)."""
