"""Folds, the Table 1 network, gradient reversal and the entropy term."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from pipeline.data.folds import make_folds
from pipeline.model.network import EmotionSpeakerNet, entropy, reverse_gradient
from pipeline.runtime.errors import ConfigError


def _labels(sessions: int = 5, with_session: bool = True) -> pd.DataFrame:
    rows = [
        {"speaker": f"Ses{s:02d}{g}", "session": f"Ses{s:02d}" if with_session else None}
        for s in range(1, sessions + 1)
        for g in "FM"
        for _ in range(3)
    ]
    return pd.DataFrame(rows)


def test_ten_folds_cover_every_speaker_once_as_test_and_once_as_val() -> None:
    folds = make_folds(_labels())
    assert len(folds) == 10
    speakers = {f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"}
    assert sorted(f["test"] for f in folds) == sorted(speakers)
    assert sorted(f["val"] for f in folds) == sorted(speakers)
    for fold in folds:
        assert len(fold["train"]) == 8
        assert fold["test"][:5] == fold["val"][:5] == fold["session"]  # same session
        assert {fold["test"], fold["val"]}.isdisjoint(fold["train"])
    assert folds[0]["train"] == folds[1]["train"]  # a pair differs only in val/test


def test_speakers_without_sessions_are_paired_in_sorted_order() -> None:
    folds = make_folds(_labels(3, with_session=False))
    assert [(f["test"], f["val"]) for f in folds[:2]] == [
        ("Ses01F", "Ses01M"),
        ("Ses01M", "Ses01F"),
    ]


def test_a_session_with_one_speaker_is_refused() -> None:
    labels = _labels()
    labels.loc[labels["speaker"] == "Ses02M", "session"] = "Ses09"
    with pytest.raises(ConfigError, match="exactly two speakers"):
        make_folds(labels)


@pytest.mark.parametrize(("embedding", "dim"), [("pooled", 96), ("projected", 32)])
def test_shapes_follow_table_1(embedding: str, dim: int) -> None:
    net = EmotionSpeakerNet(4, 8, embedding)
    x = torch.randn(3, 400, 43)
    v = net.enc(x)
    assert v.shape == (3, dim)
    assert net.ec(v).shape == (3, 4) and net.sc(v).shape == (3, 8)
    convs = [m for m in net.enc.conv if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (43, 32, 10, 2),
        (32, 32, 5, 2),
    ]
    assert (net.enc.gru.input_size, net.enc.gru.hidden_size, net.enc.gru.num_layers) == (32, 32, 1)
    linears = [m.out_features for m in net.ec if isinstance(m, torch.nn.Linear)]
    assert linears == [32, 10, 4]


def test_gradient_reversal_flips_the_sign_of_encoder_gradients() -> None:
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8)
    x, y = torch.randn(4, 200, 43), torch.tensor([0, 1, 2, 3])
    plain = torch.nn.functional.cross_entropy(net.sc(net.enc(x)), y)
    plain.backward()
    grads = [p.grad.clone() for p in net.enc.parameters()]
    sc_grads = [p.grad.clone() for p in net.sc.parameters()]
    net.zero_grad()
    reversed_ = torch.nn.functional.cross_entropy(net.sc(reverse_gradient(net.enc(x))), y)
    reversed_.backward()
    for before, p in zip(grads, net.enc.parameters(), strict=True):
        torch.testing.assert_close(p.grad, -before)
    for before, p in zip(sc_grads, net.sc.parameters(), strict=True):
        torch.testing.assert_close(p.grad, before)  # SC itself still learns to classify


def test_entropy_is_maximal_for_uniform_output_and_never_nan() -> None:
    uniform = torch.zeros(5, 8)
    torch.testing.assert_close(entropy(uniform), torch.full((5,), math.log(8)))  # per example
    peaked = torch.tensor([[1e4, 0.0, 0.0, 0.0]])
    value = entropy(peaked)
    assert torch.isfinite(value).all() and value.item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.randn(16, 8, requires_grad=True)
    entropy(logits * 1e3).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (entropy(torch.randn(3, 64, 8)) < math.log(8)).all()  # any leading dimensions


@pytest.mark.parametrize(
    ("speakers", "sessions", "pattern"),
    [
        (["A"], [None], r"at least 2 sessions of 2 speakers; found 1 speaker\(s\): \['A'\]"),
        (["A", "B"], ["S1", "S1"], r"at least 2 sessions of 2 speakers; found 1: \['S1'\]"),
        (["A", "B", "C", "D", "E"], [None] * 5, r"odd number of speakers"),
    ],
)
def test_a_corpus_too_small_for_the_protocol_says_what_it_needs(
    speakers: list, sessions: list, pattern: str
) -> None:
    labels = pd.DataFrame({"speaker": speakers, "session": sessions, "label": "neu"})
    with pytest.raises(ConfigError, match=pattern):
        make_folds(labels)
