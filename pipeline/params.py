"""params.yaml, the single source of every setting and seed, typed and checked in one place.

Every stage loads the file through :func:`load_params`, which checks the whole file, not
only the keys that stage reads: a typo in ``train`` fails the first stage that runs after
it, in a second, never after hours of feature extraction or training. One part is left to
the readers: which options a corpus format takes (this module imports no reader, so a
reader's edit never re-runs training). The DVC stage ``check`` runs both first on every
change of params.yaml (:func:`pipeline.data.corpora.check_entries`), and also checks that
the corpus roots exist; every other stage depends on its output.

The settings are pydantic models (strict types, no unknown keys, ranges on the fields),
and every other place that needs a setting reads these objects: :class:`RunSettings`
extends :class:`TrainSettings` by the two values a stage resolves (what a ``model.pt``
stores), and the training engine's :class:`pipeline.training.config.TrainConfig` extends
that, so no setting is typed twice. Each field carries its allowed
values in words (:class:`Expect`), so an error reads
``params.yaml train.epochs: expected an integer >= 1, got 0``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.data.folds import PROTOCOLS
from pipeline.features.spec import FRONTENDS, SSL_DTYPES, PitchRange
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.workers import N_JOBS_RULE, valid_n_jobs

PARAMS_FILE = Path("params.yaml")
EMBEDDING_KINDS = ("pooled", "projected")
"""Two readings of Table 1's embedding v (see :mod:`pipeline.model.network`)."""
SELECTIONS = ("best_val_ua", "last")
MAX_CROP_S = 120
"""Longest training crop (``train.max_seconds``) allowed: the paper's is 14 s; a crop's
frames for a batch are held at once, so a typo of 1e6 would ask for tens of gigabytes."""
DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_RULE = "auto, cpu, cuda or cuda:<index>"
"""The device names every setting takes (params.yaml ``device``, ``menan --device``); whether
the machine has that device is :func:`pipeline.runtime.device.check`'s question."""


class Expect:
    """Field metadata: the allowed values in words, for the error that names the key."""

    def __init__(self, words: str) -> None:
        self.words = words


def _require(predicate: Callable[[Any], bool]) -> AfterValidator:
    def check(value: Any) -> Any:
        if not predicate(value):
            raise ValueError("not allowed")
        return value

    return AfterValidator(check)


def integer(minimum: int) -> Any:
    return Annotated[int, Field(ge=minimum), Expect(f"an integer >= {minimum}")]


Number = int | float
"""A number as YAML wrote it: 4 stays 4, so the values stages record keep their spelling."""


def positive() -> Any:
    return Annotated[Number, Field(gt=0), Expect("a number > 0")]


def non_negative() -> Any:
    return Annotated[Number, Field(ge=0), Expect("a number >= 0")]


def choice(*options: str) -> Any:
    return Annotated[Literal[options], Expect(f"one of {', '.join(options)}")]


def _distinct(values: list[Any]) -> bool:
    return len(set(values)) == len(values)


class Section(BaseModel):
    """A mapping of params.yaml: strict types, every key required, no unknown key."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class DemoIemocap(Section):
    utterances_per_speaker: integer(4)  # one per class for every speaker
    mean_seconds: positive()
    long_utterances: integer(0)
    short_utterances: integer(0)


class DemoMosei(Section):
    videos: integer(1)
    segments_per_video: integer(1)
    mean_seconds: positive()


class DemoSettings(Section):
    seed: integer(0)
    iemocap: DemoIemocap
    mosei: DemoMosei


class SslSettings(Section):
    """params.yaml ``features.ssl``: the self-supervised model of ``frontend: ssl`` and what
    of it is stored (:mod:`pipeline.features.ssl`); read only with that front end."""

    model: Annotated[str, Field(min_length=1), Expect("a model folder, a non-empty string")]
    layers: Annotated[
        Literal["all"]
        | Annotated[int, Field(ge=0)]
        | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1), _require(_distinct)],
        Expect("all, a hidden-state index >= 0, or a non-empty list of distinct indices"),
    ]
    dtype: choice(*SSL_DTYPES)


class FeatureSettings(Section):
    frontend: choice(*FRONTENDS)
    f0_min_hz: positive()
    f0_max_hz: positive()
    ssl: SslSettings

    @property
    def pitch_range(self) -> PitchRange:
        return PitchRange(self.f0_min_hz, self.f0_max_hz)


class AugmentSettings(Section):
    speeds: Annotated[
        list[Annotated[float, Field(gt=0)]],
        _require(lambda v: _distinct(v) and 1 not in v),
        Expect("a list of distinct speed factors > 0, none equal to 1 ([]: no speed copies)"),
    ]


class TrainSettings(Section):
    """params.yaml ``train``: everything that shapes the training of a regime."""

    seeds: Annotated[
        list[Annotated[int, Field(ge=0)]],
        Field(min_length=1),
        _require(_distinct),
        Expect("a non-empty list of distinct integers >= 0"),
    ]
    epochs: integer(1)
    max_seconds: Annotated[
        Number, Field(gt=0, le=MAX_CROP_S), Expect(f"a number > 0 and <= {MAX_CROP_S}")
    ]
    batch_size: integer(1)
    lr: positive()
    lr_decay_power: non_negative()
    embedding: choice(*EMBEDDING_KINDS)
    selection: choice(*SELECTIONS)
    menan_sc_steps: integer(1)
    pack: Annotated[
        Literal["auto"] | Annotated[int, Field(ge=1)], Expect("auto, or an integer >= 1")
    ]
    folds: Annotated[
        Literal["all"] | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)],
        Expect("all, or a non-empty list of fold indices >= 0"),
    ]
    probe_holdout: Annotated[
        Number, Field(ge=0, lt=0.5), Expect("a number >= 0 and < 0.5 (0: off)")
    ]

    @property
    def keeps_best(self) -> bool:
        """Whether a fold keeps its best validation-UA epoch (``selection: best_val_ua``)
        rather than the last."""
        return self.selection == "best_val_ua"


class AdversarySettings(Section):
    """What one run's adversary was (``model.pt``'s ``config.adversary``): the keys of its
    regime's params.yaml ``adversary.<regime>`` section, the others at the paper's values
    (ours, not the paper's: docs/protocol.md, "Adversary strength"); :meth:`paper` is the
    paper's adversary."""

    fresh_batches: Annotated[bool, Expect("true or false")]
    reinit_every: Annotated[int, Field(ge=0), Expect("an integer >= 0 (0: never)")]
    ensemble: integer(1)
    dat_ramp: Annotated[bool, Expect("true or false")]

    @classmethod
    def paper(cls) -> AdversarySettings:
        """The paper's adversary: every setting off."""
        return cls(fresh_batches=False, reinit_every=0, ensemble=1, dat_ramp=False)


class DatAdversary(Section):
    """params.yaml ``adversary.dat``: DAT's speaker adversary."""

    reinit_every: Annotated[int, Field(ge=0), Expect("an integer >= 0 (0: never)")]
    ensemble: integer(1)
    ramp: Annotated[bool, Expect("true or false")]


class MenanAdversary(Section):
    """params.yaml ``adversary.menan``: MEnAN's speaker adversary (``fresh_batches`` is read
    only with ``train.menan_sc_steps`` > 1: with one SC step there is no extra step)."""

    fresh_batches: Annotated[bool, Expect("true or false")]
    reinit_every: Annotated[int, Field(ge=0), Expect("an integer >= 0 (0: never)")]
    ensemble: integer(1)


class AdversarySection(Section):
    """params.yaml ``adversary``: one section per regime with an adversary, so that a key
    retrains only the regime that reads it (each stage declares its regime's section)."""

    dat: DatAdversary
    menan: MenanAdversary

    def for_regime(self, regime: str, sc_steps: int) -> AdversarySettings | None:
        """The run record of ``regime``'s adversary; None where it is the paper's, so that
        such a run's settings, ``model.pt`` and fold cache are those of a pipeline without
        this section, byte for byte."""
        if regime == "dat":
            dat = self.dat
            found = AdversarySettings(fresh_batches=False, reinit_every=dat.reinit_every,
                                      ensemble=dat.ensemble, dat_ramp=dat.ramp)  # fmt: skip
        elif regime == "menan":
            menan = self.menan
            found = AdversarySettings(
                fresh_batches=menan.fresh_batches and sc_steps > 1,
                reinit_every=menan.reinit_every, ensemble=menan.ensemble, dat_ramp=False,
            )  # fmt: skip
        else:
            return None
        return None if found == AdversarySettings.paper() else found


class RunSettings(TrainSettings):
    """The settings one run was trained with, as its ``model.pt`` stores them: ``train``
    plus what the stage resolved, lambda (None for a regime that does not read it) and the
    device. A stored model's settings are checked against these rules before it is used.

    ``adversary`` is the regime's :meth:`AdversarySection.for_regime`: absent from the
    dump (``model.pt``, the fold cache's fingerprint) when it is the paper's adversary."""

    lam: float | None
    device: str
    adversary: Annotated[AdversarySettings | None, Field(exclude_if=lambda v: v is None)] = None

    @property
    def speaker_heads(self) -> int:
        """How many speaker classifiers the run's network has (``adversary.<regime>.ensemble``)."""
        return self.adversary.ensemble if self.adversary is not None else 1


class EraseSettings(Section):
    """params.yaml ``erase``: the erasure regimes (:mod:`pipeline.training.erasure`)."""

    epochs: integer(1)
    kernel_features: integer(8)


class FoldSettings(Section):
    """params.yaml ``folds``: how the training corpus is cut (see :mod:`pipeline.data.folds`)."""

    protocol: choice("auto", *PROTOCOLS)
    k: integer(3)
    seed: integer(0)


class EvaluateSettings(Section):
    """params.yaml ``evaluate``: cross-validation parts of every probe, their seed (also the
    bootstrap's), and the margin within which a probe counts as equivalent to chance."""

    probe_splits: integer(2)
    seed: integer(0)
    equivalence_margin: positive()


class ReportSettings(Section):
    tsne_fold: integer(0)
    tsne_perplexity: Annotated[
        Literal["auto"] | Annotated[Number, Field(gt=0)], Expect("auto, or a number > 0")
    ]
    seed: integer(0)


CORPUS_NAME = re.compile(r"[A-Za-z0-9_-]+")


class Params(Section):
    """The whole of params.yaml."""

    n_jobs: Annotated[int, _require(valid_n_jobs), Expect(N_JOBS_RULE)]
    device: Annotated[str, _require(lambda v: bool(DEVICE_NAME.fullmatch(v))),
                      Expect(DEVICE_RULE)]  # fmt: skip
    train_corpus: Annotated[str, Field(min_length=1), Expect("a non-empty string")]
    cross_corpus: Annotated[str, Field(min_length=1), Expect("a non-empty string")]
    corpora: Annotated[
        dict[str, dict[str, Any]],
        Expect("a mapping of corpus names to entries with format and root"),
    ]
    demo: DemoSettings
    features: FeatureSettings
    augment: AugmentSettings
    folds: FoldSettings
    lam: Annotated[
        Number, Field(gt=0, lt=1, alias="lambda"), Expect("a number between 0 and 1, exclusive")
    ]
    train: TrainSettings
    adversary: AdversarySection
    erase: EraseSettings
    evaluate: EvaluateSettings
    report: ReportSettings

    @field_validator("corpora")
    @classmethod
    def _entries(cls, corpora: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not corpora:
            raise ConfigError("params.yaml corpora: expected at least one corpus entry")
        for name, entry in corpora.items():
            _check_corpus(name, entry)
        return corpora

    @model_validator(mode="after")
    def _cross_references(self) -> Params:
        for key in ("train_corpus", "cross_corpus"):
            value = getattr(self, key)
            if value not in self.corpora:
                raise ConfigError(
                    f"params.yaml {key}: {value!r} names no entry of corpora "
                    f"(there are {', '.join(sorted(self.corpora))})"
                )
        self.features.pitch_range  # noqa: B018 -- its error names both keys
        return self

    def section(self, *keys: str) -> dict[str, Any]:
        """Some keys as plain values, as params.yaml spells them (for the report and model
        cards): a top-level key, or a dotted one (``erase.epochs``) kept in its section."""
        dumped = self.model_dump(by_alias=True, mode="json")
        found: dict[str, Any] = {}
        for key in keys:
            top, _, inner = key.partition(".")
            if inner:
                found.setdefault(top, {})[inner] = dumped[top][inner]
            else:
                found[top] = dumped[top]
        return found


def _check_corpus(name: str, entry: dict[str, Any]) -> None:
    """The name and root every entry needs; which options its format takes is the readers'
    business (:func:`pipeline.data.corpora.check_entries`, run by the check stage), so this
    module, which every stage imports, imports no reader."""
    prefix = f"params.yaml corpora.{name}"
    if not CORPUS_NAME.fullmatch(name):
        raise ConfigError(
            f"{prefix}: a corpus name is part of file names; use letters, digits, _ and -"
        )
    root = entry.get("root") if isinstance(entry, dict) else None
    if not (isinstance(root, str) and root):
        raise ConfigError(f"{prefix}.root: expected a non-empty string, got {root!r}")


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Load params.yaml and check every key of it (see the module docstring)."""
    path = Path(path)
    try:
        with path.open() as handle:
            raw = yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found (run stages from the project folder)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return validate(raw, str(path))


def validate(raw: Any, where: str = "params.yaml") -> Params:
    """The typed settings; a ConfigError naming the first key that cannot work."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    return validate_as(Params, raw, where)


def validate_as(model: type[BaseModel], raw: Any, where: str) -> Any:
    """``raw`` typed as ``model`` (a section of params.yaml, or a model's stored settings);
    a ConfigError naming ``where`` and the first key that cannot work."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc.errors()[0], raw, where, model) from None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key params.yaml uses for them."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _config_error(
    error: dict[str, Any], raw: dict[str, Any], where: str, root: type[BaseModel]
) -> ConfigError:
    """One pydantic error as ``<where> <key>: expected <words>, got <value>``."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return cause
    model: type[BaseModel] | None = root
    path: list[str] = []
    words = "a mapping"
    for part in error["loc"]:
        fields = _fields(model) if model is not None else {}
        if part not in fields:
            break
        field = fields[part]
        path.append(part)
        annotation = field.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        words = (
            "a mapping"
            if is_section
            else next((m.words for m in field.metadata if isinstance(m, Expect)), "a valid value")
        )
        model = annotation if is_section else None
    key = ".".join(path)
    if error["type"] == "extra_forbidden":
        unknown = str(error["loc"][len(path)])
        known = list(_fields(model)) if model is not None else []
        close = difflib.get_close_matches(unknown, known, n=1)
        prefix = f"{key}." if key else ""
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        return ConfigError(
            f"{where} {prefix}{unknown}: unknown key{hint} (known: {', '.join(known)})"
        )
    if error["type"] == "missing":
        return ConfigError(f"{where} {key}: missing; expected {words}")
    value: Any = raw
    for part in path:
        value = value[part]
    return ConfigError(f"{where} {key}: expected {words}, got {value!r}")


def check_roots(params: Params, written_by_demo: str | Path) -> None:
    """Every corpus root must exist, except those the demo stage writes before they are read."""
    demo = Path(written_by_demo).resolve()
    for name, entry in params.corpora.items():
        root = Path(entry["root"])
        if not root.is_dir() and not root.resolve().is_relative_to(demo):
            state = "is not a folder" if root.exists() else "does not exist"
            raise ConfigError(f"params.yaml corpora.{name}.root: {root} {state}")
