"""The packed network: each run computes exactly what it would alone, forward and backward."""

from __future__ import annotations

import pytest
import torch

from pipeline.model.network import EmotionSpeakerNet
from pipeline.training.gru import packed_gru
from pipeline.training.packing import GRU_WEIGHTS, PackedAdam, PackedNet
from pipeline.training.steps import Batch, PackedTrainer


def _nets(runs: int, embedding: str = "pooled") -> list[EmotionSpeakerNet]:
    torch.manual_seed(0)
    return [EmotionSpeakerNet(4, 8, embedding) for _ in range(runs)]


def test_packed_gru_equals_torch_gru_forward_and_backward() -> None:
    torch.manual_seed(0)
    grus = [torch.nn.GRU(32, 32, batch_first=True) for _ in range(3)]
    x = torch.randn(3, 4, 30, 32, requires_grad=True)
    weights = [
        torch.stack([getattr(g, n).detach() for g in grus]).requires_grad_() for n in GRU_WEIGHTS
    ]
    h = packed_gru(x, *weights)
    grad = torch.randn_like(h)
    (h * grad).sum().backward()
    for r, gru in enumerate(grus):
        x_r = x.detach()[r].clone().requires_grad_()
        ref, _ = gru(x_r)
        (ref * grad[r]).sum().backward()
        torch.testing.assert_close(h[r], ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(x.grad[r], x_r.grad, rtol=0, atol=1e-6)
        for name, w in zip(GRU_WEIGHTS, weights, strict=True):
            torch.testing.assert_close(w.grad[r], getattr(gru, name).grad, rtol=1e-5, atol=1e-4)


def test_packed_gru_gradients_are_exact() -> None:
    shapes = ((2, 3, 5, 4), (2, 12, 4), (2, 12, 4), (2, 12), (2, 12))
    args = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(packed_gru, args)


WHERE = (
    "pipeline/model/network.py (EmotionSpeakerNet, the authoritative network) and "
    "pipeline/training/packing.py (PackedNet, the same network for R runs) must change together"
)


def _loss(packed: PackedNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(v, a loss that reaches every weight of ENC, EC and SC)."""
    v = packed.embed(x)
    emotion, speaker = packed.emotion_logits(v), packed.speaker_logits(v)
    torch.manual_seed(5)
    loss = (emotion * torch.randn_like(emotion)).sum() + (speaker * torch.randn_like(speaker)).sum()
    return v, loss


@pytest.mark.parametrize("fused_gru", [False, True])
@pytest.mark.parametrize("embedding", ["pooled", "projected"])
def test_packed_net_equals_each_network(embedding: str, fused_gru: bool) -> None:
    """Forward and backward, both GRU forms, against each run's own EmotionSpeakerNet
    (PyTorch's GRU): the CUDA form is tested here on the CPU, chosen by its switch."""
    nets = _nets(3, embedding)
    packed = PackedNet(nets, fused_gru=fused_gru)
    x = torch.randn(3, 5, 120, 43)
    v, loss = _loss(packed, x)
    emotion, speaker = packed.emotion_logits(v), packed.speaker_logits(v)
    torch.manual_seed(5)
    g_emotion, g_speaker = torch.randn_like(emotion), torch.randn_like(speaker)
    loss.backward()
    grads = {**packed.main_layout.views(packed.main.grad), **packed.sc_layout.views(packed.sc.grad)}
    for r, net in enumerate(nets):
        ref = net.enc(x[r])
        torch.testing.assert_close(v[r], ref, rtol=0, atol=1e-6, msg=lambda m: f"{WHERE}: {m}")
        torch.testing.assert_close(emotion[r], net.ec(ref), rtol=0, atol=1e-6)
        torch.testing.assert_close(speaker[r], net.sc(ref), rtol=0, atol=1e-6)
        state = packed.state_dict_of(r)
        assert all(torch.equal(t, net.state_dict()[k]) for k, t in state.items())
        ((net.ec(ref) * g_emotion[r]).sum() + (net.sc(ref) * g_speaker[r]).sum()).backward()
        for name, param in net.named_parameters():
            torch.testing.assert_close(
                grads[name][r], param.grad, rtol=1e-4, atol=2e-5,
                msg=lambda m, n=name: f"{WHERE}; the gradient of {n}: {m}",
            )  # fmt: skip


def test_packed_net_computes_with_every_weight_of_table1() -> None:
    """A layer added to EmotionSpeakerNet but not to PackedNet would train at zero gradient."""
    for embedding in ("pooled", "projected"):
        packed = PackedNet(_nets(2, embedding))
        _loss(packed, torch.randn(2, 3, 60, 43))[1].backward()
        for layout, grad in (
            (packed.main_layout, packed.main.grad),
            (packed.sc_layout, packed.sc.grad),
        ):
            unused = [n for n, g in layout.views(grad).items() if not g.abs().sum()]
            assert not unused, f"PackedNet does not compute with {unused}: {WHERE}"


def test_a_weight_packed_net_reads_but_the_network_lacks_is_a_clear_error() -> None:
    packed = PackedNet(_nets(1))
    packed.main_layout.slots.pop("enc.frame_out.0.weight")
    message = (
        "computes with 'enc.frame_out.0.weight', which the network of pipeline/model/network.py"
    )
    with pytest.raises(KeyError, match=message):
        packed.embed(torch.randn(1, 2, 60, 43))


@pytest.mark.parametrize("fused_gru", [False, True])
def test_runs_of_a_pack_never_see_each_other(fused_gru: bool) -> None:
    """Perturbing one run's input changes nothing of the others: outputs, gradients, bits."""
    packed = PackedNet(_nets(3), fused_gru=fused_gru)
    x = torch.randn(3, 4, 80, 43)
    results = []
    for inputs in (x, torch.cat([x[:1], x[1:2] * 3 + 7, x[2:]])):
        packed.zero_grad()
        v, loss = _loss(packed, inputs)
        loss.backward()
        results.append((v.detach(), packed.main.grad.clone(), packed.sc.grad.clone()))
    (v, main, sc), (v2, main2, sc2) = results
    for r in (0, 2):
        assert torch.equal(v[r], v2[r]) and torch.equal(main[r], main2[r])
        assert torch.equal(sc[r], sc2[r])
    assert not torch.equal(v[1], v2[1]) and not torch.equal(main[1], main2[1])


def test_fused_gru_weights_lie_in_one_buffer_in_the_cudnn_layout() -> None:
    """cuDNN reads a GRU's weights in place only from one buffer, from its start, in the order
    of nn.GRU's flat weights; else it warns and copies them on every call (on a GPU,
    benchmarks/gpu_check.py checks that no such warning comes)."""
    runs = 3
    packed = PackedNet(_nets(runs), fused_gru=True)
    weights = packed.block_diagonal_weights(packed.main_layout.views(packed.main))
    reference = torch.nn.GRU(runs * 32, runs * 32, batch_first=True)
    assert tuple(reference._flat_weights_names) == GRU_WEIGHTS
    assert [w.shape for w in weights] == [w.shape for w in reference._flat_weights]
    storage = weights[0].untyped_storage()
    assert all(w.untyped_storage().data_ptr() == storage.data_ptr() for w in weights)
    sizes = [w.numel() for w in weights]
    assert [w.storage_offset() for w in weights] == [sum(sizes[:i]) for i in range(len(sizes))]
    assert all(w.is_contiguous() for w in weights)
    assert storage.nbytes() == 4 * sum(sizes)


def test_packed_adam_equals_torch_adam_and_skips_inactive_runs() -> None:
    torch.manual_seed(0)
    start = torch.randn(2, 50)
    param = torch.nn.Parameter(start.clone())
    reference = torch.nn.Parameter(start[0].clone())
    ours, torch_adam = PackedAdam(param), torch.optim.Adam([reference], lr=1e-2)
    active = torch.tensor([[True], [False]])
    for _ in range(5):
        grad = torch.randn(50)
        param.grad = torch.stack([grad, torch.randn(50)])
        reference.grad = grad.clone()
        ours.step(torch.full((2, 1), 1e-2), active)
        torch_adam.step()
    torch.testing.assert_close(param[0], reference, rtol=0, atol=1e-6)
    assert torch.equal(param[1], start[1])  # inactive: weights and moments untouched
    assert ours.steps[1].item() == 0 and not ours.exp_avg[1].any()


def _batch(runs: int = 2) -> Batch:
    torch.manual_seed(1)
    weight = torch.ones(runs, 6)
    weight[1, 4:] = 0  # the second run's batch is shorter
    return Batch(
        x=torch.randn(runs, 6, 80, 43),
        emotion=torch.randint(0, 4, (runs, 6)),
        speaker=torch.randint(0, 8, (runs, 6)),
        weight=weight,
        active=torch.ones(runs, 1, dtype=torch.bool),
    )


def _snapshot(net: PackedNet) -> tuple[torch.Tensor, torch.Tensor]:
    return net.main.detach().clone(), net.sc.detach().clone()


def test_menan_step_a_moves_only_sc_and_step_b_never_moves_sc() -> None:
    net = PackedNet(_nets(2))
    trainer = PackedTrainer("menan", net, 0.5)
    batch, lr = _batch(), torch.full((2, 1), 1e-2)
    main, sc = _snapshot(net)
    trainer.menan_speaker_step(net.embed(batch.x), batch, lr)
    assert torch.equal(net.main, main) and not torch.equal(net.sc, sc)
    main, sc = _snapshot(net)
    trainer.menan_encoder_step(net.embed(batch.x), batch, lr)
    assert not torch.equal(net.main, main) and torch.equal(net.sc, sc)


def test_ec_only_never_trains_sc_and_inactive_runs_stay_put() -> None:
    net = PackedNet(_nets(2))
    batch = _batch()
    batch.active = torch.tensor([[True], [False]])
    batch.weight[1] = 0
    main, sc = _snapshot(net)
    logs = PackedTrainer("ec_only", net, 0.5).step(batch, torch.full((2, 1), 1e-2))
    assert torch.equal(net.sc, sc) and torch.equal(net.main[1], main[1])
    assert not torch.equal(net.main[0], main[0])
    assert logs["ce_emo"][1] == 0 and logs["ce_emo"].shape == (2,)


def test_padding_does_not_change_a_runs_update() -> None:
    """A run's loss is its mean over real examples: padded rows carry no gradient."""
    nets = _nets(2)
    batch = _batch()
    packed = PackedNet(nets)
    packed_trainer = PackedTrainer("dat", packed, 0.5)
    packed_trainer.step(batch, torch.full((2, 1), 1e-2))
    alone = PackedNet(nets[1:])
    short = Batch(batch.x[1:, :4], batch.emotion[1:, :4], batch.speaker[1:, :4],
                  batch.weight[1:, :4], batch.active[1:])  # fmt: skip
    alone_trainer = PackedTrainer("dat", alone, 0.5)
    alone_trainer.step(short, torch.full((1, 1), 1e-2))
    for packed_opt, alone_opt in ((packed_trainer.main_opt, alone_trainer.main_opt),
                                  (packed_trainer.sc_opt, alone_trainer.sc_opt)):  # fmt: skip
        torch.testing.assert_close(packed_opt.exp_avg[1], alone_opt.exp_avg[0], rtol=0, atol=1e-7)
    # Adam's first step is lr * g / |g|: a rounding-level difference in a near-zero gradient
    # (the convolution runs at batch 6 here and 4 alone) moves a weight by up to lr * 1e-3
    torch.testing.assert_close(packed.main[1], alone.main[0], rtol=0, atol=1e-5 * 2)
    torch.testing.assert_close(packed.sc[1], alone.sc[0], rtol=0, atol=1e-5 * 2)
