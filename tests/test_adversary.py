"""The ``adversary`` settings (ours): MEnAN's SC steps on batches of their own, speaker
classifiers re-initialised every N epochs, an ensemble of K of them, and DAT's ramped
reversal; with the paper's values, training is exactly what it was without them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.folds import make_folds
from pipeline.features.frame_store import FrameStore
from pipeline.model.network import EmotionSpeakerNet, head, reverse_gradient
from pipeline.params import AdversarySettings, RunSettings, validate, validate_as
from pipeline.runtime.errors import ConfigError
from pipeline.training.config import TrainConfig
from pipeline.training.driver import plan_runs
from pipeline.training.inputs import EpochTables
from pipeline.training.pack import FRESH_HEADS, Pack
from pipeline.training.packing import PackedNet
from pipeline.training.run import train_pack
from pipeline.training.steps import Batch, PackedTrainer
from tests.helpers import Interrupted, host_copies, project_params, stop_at, toy_config, toy_corpus


def adversary(**changes) -> AdversarySettings:
    """The paper's adversary with ``changes``."""
    return AdversarySettings.paper().model_copy(update=changes)


@pytest.fixture(scope="module")
def toy() -> tuple:
    """(labels, frame store, the first two runs of seed 3) of the toy corpus."""
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    runs = plan_runs(make_folds(labels), [3])[:2]
    return labels, FrameStore.combine(originals, copies), runs


def nets(runs: int, heads: int = 1) -> list[EmotionSpeakerNet]:
    torch.manual_seed(0)
    return [EmotionSpeakerNet(4, 8, sc_heads=heads) for _ in range(runs)]


def batch(runs: int = 2, seed: int = 1) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    return Batch(
        x=torch.randn(runs, 6, 80, 43, generator=generator),
        emotion=torch.randint(0, 4, (runs, 6), generator=generator),
        speaker=torch.randint(0, 8, (runs, 6), generator=generator),
        weight=torch.ones(runs, 6),
        active=torch.ones(runs, 1, dtype=torch.bool),
    )


def same_results(a: list, b: list, atol: float = 0.0) -> None:
    for a_run, b_run in zip(a, b, strict=True):
        for x, y in zip(a_run, b_run, strict=True):
            assert x.state.keys() == y.state.keys()
            for key, tensor in x.state.items():
                torch.testing.assert_close(tensor, y.state[key], rtol=0, atol=atol)
            if atol == 0:
                assert x.curve == y.curve and x.results == y.results


# -- settings ---------------------------------------------------------------------------


def test_the_paper_adversary_leaves_settings_dumps_and_fingerprints_as_they_were() -> None:
    params = validate(project_params())
    for regime in ("ec_only", "multitask", "dat", "menan"):
        config = TrainConfig.for_regime(params, regime)
        assert config.adversary is None and config.speaker_heads == 1
        assert "adversary" not in config.model_dump()
        assert "adversary" not in config.fingerprint_fields()
        plain = TrainConfig(**params.train.model_dump(), lam=config.lam, device=config.device)
        assert config.fingerprint_fields() == plain.fingerprint_fields()


CHANGED = {
    "dat": {"reinit_every": 2, "ensemble": 3, "ramp": True},
    "menan": {"fresh_batches": True, "reinit_every": 4, "ensemble": 5},
}


def test_each_regime_reads_its_own_section_and_the_record_loads_back() -> None:
    params = validate(project_params({"adversary": CHANGED}))
    assert TrainConfig.for_regime(params, "multitask").adversary is None
    dat = TrainConfig.for_regime(params, "dat")
    assert dat.adversary == adversary(reinit_every=2, ensemble=3, dat_ramp=True)
    menan = TrainConfig.for_regime(params, "menan")  # menan_sc_steps 1: no extra SC step
    assert menan.adversary == adversary(reinit_every=4, ensemble=5)
    params = validate(project_params({"adversary": CHANGED, "train": {"menan_sc_steps": 2}}))
    menan = TrainConfig.for_regime(params, "menan")
    assert menan.adversary == adversary(fresh_batches=True, reinit_every=4, ensemble=5)
    stored = menan.model_dump()  # what model.pt and the fold cache's fingerprint hold
    assert stored["adversary"] == {**CHANGED["menan"], "dat_ramp": False}
    assert menan.fingerprint_fields()["adversary"] == stored["adversary"]
    assert validate_as(RunSettings, stored, "model.pt config").speaker_heads == 5
    # DAT's section changed alone leaves MEnAN the paper's, and the other way round
    only_dat = validate(project_params({"adversary": {"dat": CHANGED["dat"]}}))
    assert TrainConfig.for_regime(only_dat, "menan").adversary is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"menan": {"ensemble": 0}},
         r"params.yaml adversary.menan.ensemble: expected an integer >= 1, got 0"),
        ({"dat": {"reinit_every": -1}},
         r"adversary.dat.reinit_every: expected an integer >= 0 \(0: never\)"),
        ({"menan": {"fresh_batches": "yes"}},
         r"adversary.menan.fresh_batches: expected true or false, got 'yes'"),
        ({"dat": {"ramp": 1}}, r"adversary.dat.ramp: expected true or false, got 1"),
        ({"dat": {"ensembel": 2}},
         r"adversary.dat.ensembel: unknown key; did you mean adversary.dat.ensemble\?"),
        ({"dat": {"fresh_batches": True}}, r"adversary.dat.fresh_batches: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_adversary_setting_names_its_key(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(project_params({"adversary": changes}))


def test_the_adversary_section_is_required() -> None:
    raw = project_params()
    del raw["adversary"]
    with pytest.raises(ConfigError, match=r"params.yaml adversary: missing; expected a mapping"):
        validate(raw)


def test_the_paper_adversary_trains_exactly_as_without_a_record(toy) -> None:
    """The engine given the paper's record computes what it computes with none (the record
    itself never reaches a run: see the test above)."""
    labels, store, runs = toy
    for regime, steps in (("dat", 1), ("menan", 2)):
        cfg = toy_config(epochs=2, menan_sc_steps=steps)
        paper = cfg.model_copy(update={"adversary": AdversarySettings.paper()})
        same_results(
            train_pack(store, labels, runs, regime, cfg),
            train_pack(store, labels, runs, regime, paper),
        )


def test_the_paper_adversary_runs_none_of_the_new_machinery(toy, monkeypatch) -> None:
    """With no record, every regime trains on the paper's path: no re-initialisation, no
    extra batch tables, DAT's reversal the plain float 1, one speaker head."""
    labels, store, runs = toy

    def refuse(*args, **kwargs):
        raise AssertionError("an adversary setting ran with the paper's adversary")

    monkeypatch.setattr(Pack, "reinit_speaker_heads", refuse)
    monkeypatch.setattr(Pack, "sc_tables", refuse)
    reversal = PackedTrainer.reversal
    seen = []

    def plain(self, progress):
        seen.append(reversal(self, progress))
        return seen[-1]

    monkeypatch.setattr(PackedTrainer, "reversal", plain)
    for regime in ("ec_only", "multitask", "dat", "menan"):
        results = train_pack(store, labels, runs, regime, toy_config(epochs=2, menan_sc_steps=2))
        assert not any(k.startswith("sc_extra") for k in results[0][0].state)
    assert seen and all(type(c) is float and c == 1.0 for c in seen)


# -- fresh batches ----------------------------------------------------------------------


def gathered_rows(pack: Pack, epochs: int) -> list[list[np.ndarray]]:
    """``epochs`` epochs of ``pack``; per epoch, the rows every gather took, (R, B) each."""
    seen: list[list[np.ndarray]] = []
    crops = pack.frames.crops

    def record(rows: torch.Tensor, max_frames: int) -> torch.Tensor:
        seen[-1].append(rows.numpy().copy())
        return crops(rows, max_frames)

    pack.frames.crops = record
    for _ in range(epochs):
        seen.append([])
        pack.train_epoch()
    return seen


def test_fresh_batches_give_each_extra_sc_step_its_own_batch(toy) -> None:
    labels, store, runs = toy
    cfg = toy_config(epochs=2, menan_sc_steps=3)
    fresh = Pack(store, labels, runs, "menan", cfg.model_copy(
        update={"adversary": adversary(fresh_batches=True)}))  # fmt: skip
    same = Pack(store, labels, runs, "menan", cfg)
    steps = 8  # 128 training rows of each run in batches of 16
    extra_orders = []
    for rows, plain in zip(gathered_rows(fresh, 2), gathered_rows(same, 2), strict=True):
        assert len(rows) == 3 * steps and len(plain) == steps  # plain: one gather a step
        encoder, extra = rows[0::3], [rows[1::3], rows[2::3]]  # per step: ENC's, then SC's
        # the encoder's batches are those of the paper's training, epoch after epoch
        assert all(np.array_equal(a, b) for a, b in zip(encoder, plain, strict=True))
        for r, data in enumerate(fresh.runs):
            for table in extra:  # each extra SC step goes through all the run's rows
                order = np.concatenate([step[r] for step in table])
                assert sorted(order) == sorted(data.train.rows)
                extra_orders.append(order)
            for b in range(steps):
                assert set(encoder[b][r]) != set(extra[0][b][r]) != set(extra[1][b][r])
    assert len({tuple(o) for o in extra_orders}) == len(extra_orders)  # new every epoch
    assert not torch.equal(fresh.net.sc, same.net.sc)  # the batches reached SC's steps


def test_an_extra_sc_step_learns_from_its_own_batch_and_the_last_from_the_encoders() -> None:
    own, encoder_batch, lr = batch(seed=2), batch(seed=1), torch.full((2, 1), 1e-2)
    fed = PackedNet(nets(2))
    logs = PackedTrainer("menan", fed, 0.5, sc_steps=2).step(encoder_batch, lr, None, [own])
    by_hand = PackedNet(nets(2))
    trainer = PackedTrainer("menan", by_hand, 0.5, sc_steps=2)
    trainer.menan_speaker_step(by_hand.embed(own.x).detach(), own, lr)
    v = by_hand.embed(encoder_batch.x)
    ce_spk = trainer.menan_speaker_step(v, encoder_batch, lr)
    trainer.menan_encoder_step(v, encoder_batch, lr)
    assert torch.equal(fed.sc, by_hand.sc) and torch.equal(fed.main, by_hand.main)
    assert torch.equal(logs["ce_spk"], ce_spk)  # logged: the step on the encoder's batch
    reused = PackedNet(nets(2))
    PackedTrainer("menan", reused, 0.5, sc_steps=2).step(encoder_batch, lr)
    assert not torch.equal(fed.sc, reused.sc)


# -- re-initialisation ------------------------------------------------------------------


def test_speaker_classifiers_restart_at_the_documented_epochs_only(toy, monkeypatch) -> None:
    labels, store, runs = toy
    cfg = toy_config(epochs=5, adversary=adversary(reinit_every=2, ensemble=2))
    pack = Pack(store, labels, runs, "menan", cfg)
    restarts: list[int] = []
    reinit = pack.net.reinit_speaker_heads

    def record(seeds: list[int]) -> None:
        restarts.append(pack.epoch)
        assert seeds == [
            int(r.run.stream(FRESH_HEADS, pack.epoch + 1).generate_state(1, np.uint64)[0])
            for r in pack.runs
        ]
        reinit(seeds)

    monkeypatch.setattr(pack.net, "reinit_speaker_heads", record)
    steps = 8  # 128 training rows of each run in batches of 16
    for epoch in range(1, 6):
        pack.train_epoch()
        since_restart = (epoch - 1) % 2 + 1
        assert pack.trainer.sc_opt.steps[:, 0].tolist() == [steps * since_restart] * 2
        assert pack.trainer.main_opt.steps[:, 0].tolist() == [steps * epoch] * 2
    assert restarts == [2, 4]  # before epochs 3 and 5


def test_new_speaker_classifiers_are_the_networks_own_initialisation() -> None:
    packed = PackedNet(nets(2, heads=2))
    trained = packed.main.detach().clone()
    rng_state = torch.get_rng_state()
    packed.reinit_speaker_heads([11, 12])
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global stream is untouched
    assert torch.equal(packed.main, trained)  # ENC and EC keep their weights
    for r, seed in enumerate((11, 12)):
        torch.manual_seed(seed)
        fresh = [head(96, 8), head(96, 8)]
        state = packed.state_dict_of(r)
        for name, module in zip(("sc", "sc_extra.0"), fresh, strict=True):
            for key, tensor in module.state_dict().items():
                assert torch.equal(state[f"{name}.{key}"], tensor), (name, key)
    assert not torch.equal(packed.sc[0], packed.sc[1])


def test_optimiser_reset_is_a_new_adam() -> None:
    packed = PackedNet(nets(2))
    trainer = PackedTrainer("menan", packed, 0.5)
    trainer.step(batch(), torch.full((2, 1), 1e-2))
    assert trainer.sc_opt.steps.sum() == 2 and trainer.sc_opt.exp_avg.abs().sum() > 0
    trainer.sc_opt.reset()
    assert not any(t.any() for t in trainer.sc_opt.state().values())
    assert trainer.main_opt.steps.sum() == 2  # only SC's optimiser starts again


ALL_ON = {
    "menan": adversary(fresh_batches=True, reinit_every=1, ensemble=2),
    "dat": adversary(reinit_every=1, ensemble=2, dat_ramp=True),
}


@pytest.mark.parametrize("regime", ["menan", "dat"])
def test_a_step_with_every_setting_on_never_copies_from_the_host(toy, regime: str) -> None:
    """The extra batches come from tables uploaded once an epoch, the ramp from the
    progress on the device: a step still never waits for the host."""
    labels, store, runs = toy
    pack = Pack(store, labels, runs, regime,
                toy_config(menan_sc_steps=3, adversary=ALL_ON[regime]))  # fmt: skip
    orders = [r.rng.permutation(len(r.train.rows)) for r in pack.runs]
    tables = EpochTables([r.train for r in pack.runs], orders, 16, "cpu")
    sc_tables = pack.sc_tables() if regime == "menan" else []
    assert len(sc_tables) == (2 if regime == "menan" else 0)
    sums = {k: torch.zeros(2) for k in pack.keys}
    with host_copies() as seen:
        for b in range(tables.steps):
            pack.step(tables, b, sums, sc_tables)
    assert seen == []


@pytest.mark.parametrize("regime", ["menan", "dat"])
def test_every_setting_is_the_same_in_any_pack_and_across_a_resume(
    toy, regime: str, tmp_path: Path
) -> None:
    """A run's fresh batches and classifiers come from its own seed, session and epoch:
    alone or beside another run, resumed or not, it trains the same (packed: up to
    rounding, as tests/test_training.py's packing test says; measured bit-identical)."""
    labels, store, runs = toy
    cfg = toy_config(epochs=3, menan_sc_steps=2, adversary=ALL_ON[regime])
    together = train_pack(store, labels, runs, regime, cfg)
    for run, result in zip(runs, together, strict=True):
        same_results([result], train_pack(store, labels, [run], regime, cfg), atol=1e-5)

    state = tmp_path / "pack.state.pt"
    with pytest.raises(Interrupted):
        train_pack(store, labels, runs, regime, cfg, state, stop_at("epoch 2/3"))
    same_results(together, train_pack(store, labels, runs, regime, cfg, state))


# -- ensemble ---------------------------------------------------------------------------


def test_one_speaker_classifier_is_table_1s_network_and_k_add_heads_last() -> None:
    torch.manual_seed(0)
    one = EmotionSpeakerNet(4, 8).state_dict()
    torch.manual_seed(0)
    three = EmotionSpeakerNet(4, 8, sc_heads=3).state_dict()
    assert not any("sc_extra" in key for key in one)
    extra = [key for key in three if key not in one]
    assert sorted({key.rsplit(".", 2)[0] for key in extra}) == ["sc_extra.0", "sc_extra.1"]
    assert all(torch.equal(one[key], three[key]) for key in one)  # the same draws first


def test_a_packed_ensemble_computes_each_head_and_loads_back_into_the_network() -> None:
    singles = nets(2, heads=3)
    packed = PackedNet(singles)
    x = torch.randn(2, 3, 80, 43)
    v = packed.embed(x)
    for r, net in enumerate(singles):
        ref = net.enc(x[r])
        for k, module in enumerate([net.sc, *net.sc_extra]):
            logits = packed.speaker_logits(v, index=k)[r]
            torch.testing.assert_close(logits, module(ref), rtol=0, atol=1e-6)
        EmotionSpeakerNet(4, 8, sc_heads=3).load_state_dict(packed.state_dict_of(r))


@pytest.mark.parametrize("regime", ["menan", "dat"])
def test_every_head_of_an_ensemble_trains_and_the_encoder_sees_their_mean(regime: str) -> None:
    packed = PackedNet(nets(2, heads=3))
    trainer = PackedTrainer(regime, packed, 0.5)
    data, lr = batch(), torch.full((2, 1), 1e-2)
    with torch.no_grad():
        v = packed.embed(data.x)
        per_head = [packed.speaker_logits(v, index=k) for k in range(3)]
    views = [packed.sc_layout.views(packed.sc.detach().clone())]
    logs = trainer.step(data, lr, torch.zeros(2, 1))
    views.append(packed.sc_layout.views(packed.sc.detach()))
    for name in ("sc", "sc_extra.0", "sc_extra.1"):
        assert not torch.equal(views[0][f"{name}.4.weight"], views[1][f"{name}.4.weight"])
    assert not torch.equal(views[1]["sc.4.weight"], views[1]["sc_extra.0.4.weight"])
    ce = [torch.nn.functional.cross_entropy(x.flatten(0, 1), data.speaker.flatten(),
                                            reduction="none").view(2, 6).mean(1)
          for x in per_head]  # fmt: skip
    torch.testing.assert_close(logs["ce_spk"], torch.stack(ce).mean(0), rtol=0, atol=1e-6)
    if regime == "menan":  # step (b) sees SC after step (a): the mean of its heads' entropies
        with torch.no_grad():
            after = [packed.speaker_logits(v, index=k) for k in range(3)]
        log_p = [torch.log_softmax(x, dim=-1) for x in after]
        h = torch.stack([-(p.exp() * p).sum(-1).mean(1) for p in log_p]).mean(0)
        torch.testing.assert_close(logs["entropy"], h, rtol=0, atol=1e-6)


def test_an_ensemble_trains_end_to_end_into_a_loadable_model(toy) -> None:
    labels, store, runs = toy
    cfg = toy_config(epochs=1, adversary=adversary(ensemble=2))
    [[result, _]] = train_pack(store, labels, runs[:1], "dat", cfg)
    assert {k.split(".")[0] for k in result.state} == {"enc", "ec", "sc", "sc_extra"}
    EmotionSpeakerNet(4, 8, sc_heads=cfg.speaker_heads).load_state_dict(result.state)


# -- DAT's ramp -------------------------------------------------------------------------


def test_the_reversal_layer_takes_one_coefficient_per_run() -> None:
    x = torch.randn(3, 4, 5, requires_grad=True)
    grad = torch.randn(3, 4, 5)
    coeff = torch.tensor([0.0, 0.5, 2.0]).view(3, 1, 1)
    (reverse_gradient(x, coeff) * grad).sum().backward()
    assert torch.equal(x.grad, -coeff * grad)


def test_the_ramp_follows_ganin_and_lempitsky() -> None:
    trainer = PackedTrainer("dat", PackedNet(nets(1)), 0.5, dat_ramp=True)
    progress = torch.tensor([[0.0], [0.1], [0.5], [1.0]])
    expected = [0.0, 2 / (1 + math.exp(-1)) - 1, 2 / (1 + math.exp(-5)) - 1,
                2 / (1 + math.exp(-10)) - 1]  # fmt: skip
    coeff = trainer.reversal(progress)
    assert coeff.shape == (4, 1, 1)
    torch.testing.assert_close(coeff.flatten(), torch.tensor(expected), rtol=0, atol=1e-7)
    assert coeff[0].item() == 0 and coeff[-1].item() > 0.9999
    assert PackedTrainer("dat", PackedNet(nets(1)), 0.5).reversal(progress) == 1.0


def test_the_ramp_scales_only_the_gradient_that_reaches_the_encoder() -> None:
    """Gradient of one DAT step = emotion part + coeff x reversed speaker part (ENC's only;
    SC's own gradient is never scaled): with the coefficient at 0 the encoder gets only the
    emotion part, at p the speaker part times 2 / (1 + exp(-10 p)) - 1."""
    data, lr = batch(), torch.full((2, 1), 1e-2)

    def gradients(ramp: bool, progress: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
        trainer = PackedTrainer("dat", PackedNet(nets(2)), 0.5, dat_ramp=ramp)
        seen = {}
        for name, opt in (("main", trainer.main_opt), ("sc", trainer.sc_opt)):
            opt.step = lambda lr, active, opt=opt, name=name: seen.setdefault(
                name, opt.param.grad.clone()
            )
        trainer.step(data, lr, torch.tensor(progress).view(2, 1))
        return seen["main"], seen["sc"]

    full_main, full_sc = gradients(False, [0.0, 0.0])
    zero_main, zero_sc = gradients(True, [0.0, 0.0])
    mid_main, mid_sc = gradients(True, [0.3, 0.8])
    assert torch.equal(full_sc, zero_sc) and torch.equal(full_sc, mid_sc)
    assert not torch.equal(full_main, zero_main)
    emotion_only = PackedTrainer("dat", PackedNet(nets(2)), 1.0)  # lambda 1: no speaker term
    seen = []
    emotion_only.main_opt.step = lambda lr, active: seen.append(emotion_only.net.main.grad)
    emotion_only.step(data, lr)
    torch.testing.assert_close(zero_main, 0.5 * seen[0], rtol=1e-6, atol=0)
    coeff = torch.tensor([2 / (1 + math.exp(-3)) - 1, 2 / (1 + math.exp(-8)) - 1]).view(2, 1)
    torch.testing.assert_close(mid_main - zero_main, coeff * (full_main - zero_main),
                               rtol=1e-4, atol=1e-7)  # fmt: skip
