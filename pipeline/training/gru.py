"""A GRU for R independent runs at once: one batched matmul per time step for all of them.

PyTorch's CPU GRU records a dozen autograd nodes per time step, and at 32 units and batch
16 that per-operation overhead, not arithmetic, is most of a training step. Here the time
loop runs without autograd, over all runs together (``bmm`` over the run dimension), and
the backward pass is written out (back-propagation through time). Everything that does
not depend on the incoming gradient is computed for all time steps at once, outside the
loop, so a backward step costs four small operations (a forward step seven) whether it
serves one run or fifteen. The
input projections of all time steps are batched matmuls outside the loop, under ordinary
autograd. Inside the loop tensors are time-major, so each step reads and writes
contiguous blocks (twice as fast per operation as strided slices, measured).

Equations and gate order (r, z, n) are PyTorch's ``nn.GRU``:
r = sigmoid(x W_ir + b_ir + h W_hr + b_hr), z = sigmoid(... same with z ...),
n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), h' = (1 - z) * n + z * h.
"""

from __future__ import annotations

import torch


class _Recurrence(torch.autograd.Function):
    """h (T, R, B, H) from time-major input gates ``gi_rz`` (T, R, B, 2H), ``gi_n`` (T, R, B, H)."""

    @staticmethod
    def forward(
        ctx, gi_rz: torch.Tensor, gi_n: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
    ) -> torch.Tensor:
        steps, runs, batch, hidden = gi_n.shape
        w_t, bias = w_hh.transpose(1, 2), b_hh.unsqueeze(1)
        h = gi_n.new_zeros(steps + 1, runs, batch, hidden)  # h[0] = h_0 = 0
        rz = torch.empty_like(gi_rz)
        n = torch.empty_like(gi_n)
        gh = gi_n.new_empty(steps, runs, batch, 3 * hidden)
        for t in range(steps):
            torch.baddbmm(bias, h[t], w_t, out=gh[t])
            torch.sigmoid(gi_rz[t] + gh[t, ..., : 2 * hidden], out=rz[t])
            torch.tanh(torch.addcmul(gi_n[t], rz[t, ..., :hidden], gh[t, ..., 2 * hidden :]),
                       out=n[t])  # fmt: skip
            torch.addcmul(n[t], rz[t, ..., hidden:], h[t] - n[t], out=h[t + 1])  # n + z(h - n)
        ctx.save_for_backward(w_hh, h, rz, n, gh[..., 2 * hidden :])
        return h[1:]

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        w_hh, h, rz, n, gh_n = ctx.saved_tensors
        steps, runs, batch, hidden = n.shape
        h_prev = h[:-1]
        r, z = rz[..., :hidden], rz[..., hidden:]
        # d loss / d(gate pre-activations) = dL/dh' * factor, and no factor depends on the
        # incoming gradient: all steps at once, before the loop, in as few passes as possible
        one = n.new_ones(())
        through_n = torch.addcmul(one, n, n, value=-1)  # 1 - n^2
        through_n.addcmul_(through_n, z, value=-1)  # (1 - z)(1 - n^2)
        slope = torch.addcmul(rz, rz, rz, value=-1)  # sigmoid' = s - s^2
        factors = n.new_empty(steps, runs, batch, 3, hidden)  # gates r, z, n (via W_hh)
        torch.mul(through_n, gh_n, out=factors[..., 0, :]).mul_(slope[..., :hidden])
        torch.sub(h_prev, n, out=factors[..., 1, :]).mul_(slope[..., hidden:])
        torch.mul(through_n, r, out=factors[..., 2, :])
        d_gh = torch.empty_like(factors)
        dh_all = torch.empty_like(n)  # dL/dh_t, for all steps
        dh = torch.zeros_like(n[0])
        for t in range(steps - 1, -1, -1):
            torch.add(dh, grad_h[t], out=dh_all[t])
            torch.mul(dh_all[t].unsqueeze(2), factors[t], out=d_gh[t])
            dh = torch.baddbmm(dh_all[t] * z[t], d_gh[t].view(runs, batch, 3 * hidden), w_hh)
        d_gh = d_gh.view(steps, runs, batch, 3 * hidden)
        # weight gradients as one bmm per run over all (step, example) rows
        by_run = d_gh.transpose(0, 1).reshape(runs, steps * batch, 3 * hidden)
        h_by_run = h_prev.transpose(0, 1).reshape(runs, steps * batch, hidden)
        d_w_hh = torch.bmm(by_run.transpose(1, 2), h_by_run)
        return d_gh[..., : 2 * hidden], dh_all * through_n, d_w_hh, by_run.sum(dim=1)


def packed_gru(
    x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
) -> torch.Tensor:
    """x (R, B, T, I) -> h (R, B, T, H), run r with its own weights (R, 3H, I|H), (R, 3H)."""
    runs, batch, steps, _ = x.shape
    hidden = w_hh.shape[2]
    flat = x.transpose(1, 2).reshape(runs, steps * batch, -1)  # rows in (step, example) order
    gi_rz, gi_n = (
        torch.baddbmm(b.unsqueeze(1), flat, w.transpose(1, 2))
        .view(runs, steps, batch, -1)
        .transpose(0, 1)
        .contiguous()
        for w, b in (
            (w_ih[:, : 2 * hidden], b_ih[:, : 2 * hidden]),
            (w_ih[:, 2 * hidden :], b_ih[:, 2 * hidden :]),
        )
    )
    return _Recurrence.apply(gi_rz, gi_n, w_hh, b_hh).permute(1, 2, 0, 3)
