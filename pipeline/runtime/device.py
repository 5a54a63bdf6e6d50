"""Where the networks compute, and with which numerics: one setting for every stage.

``device`` in params.yaml (``auto``, ``cpu``, ``cuda``, ``cuda:<index>``) reaches training,
evaluation and inference alike. Like ``n_jobs``, it says where work runs, so no stage
declares it: a GPU changes results only at float-rounding level, as another CPU does, and
identical numbers across machines come from DVC's cache, not from re-running. The fold
cache keys its entries by the device type, so CPU and GPU results never mix there.

Numerics, fixed here for every process that trains or scores:

- ``CUBLAS_WORKSPACE_CONFIG`` is set when this module is imported, before torch creates a
  cuBLAS handle: without it, deterministic mode warns on every cuBLAS call and cuBLAS may
  pick non-repeatable reductions, so a resumed run would not equal an uninterrupted one.
- deterministic algorithms (warn-only: an operation without a deterministic kernel warns,
  and ``benchmarks/gpu_check.py`` reports any such warning instead of crashing a run);
- TF32 off for matmuls and cuDNN (convolutions and the GRU): the faithful choice, full
  float32 as on the CPU. torch's default turns TF32 on for cuDNN convolutions, which
  rounds their inputs to 10 mantissa bits; the GPU check measures what that would change.
"""

from __future__ import annotations

import os

CUBLAS_WORKSPACE = ":4096:8"
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)

import torch  # noqa: E402 -- after the cuBLAS setting, on purpose

from pipeline.params import DEVICE_NAME, DEVICE_RULE  # noqa: E402
from pipeline.runtime.errors import ConfigError  # noqa: E402

PACK_THREADS = 1
"""Torch threads of a training pack, wherever it runs (see :func:`prepare_training`)."""


def resolve(name: str) -> str:
    """``auto`` becomes CUDA where torch sees a GPU, else the CPU; other names stay."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def check(name: str, setting: str) -> str:
    """``name`` resolved, or a ConfigError naming ``setting``: a name outside
    :data:`~pipeline.params.DEVICE_RULE`, or a GPU that torch does not see on this machine
    (before any work, not at the first tensor moved there)."""
    if not isinstance(name, str) or not DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"{setting}: expected {DEVICE_RULE}, got {name!r}")
    where = resolve(name)
    if kind(where) == "cuda":
        count = torch.cuda.device_count()
        index = torch.device(where).index or 0
        if index >= count:
            have = f"{count} GPU(s)" if count else "no GPU (or no CUDA build of torch)"
            raise ConfigError(
                f"{setting}: {name!r}, but torch sees {have} on this machine; use auto or cpu"
            )
    return where


def kind(device: str) -> str:
    """``cpu`` or ``cuda`` (whichever GPU index)."""
    return torch.device(device).type


def is_cuda(device: str) -> bool:
    return kind(device) == "cuda"


def prepare() -> None:
    """The numerics of this module's docstring, for the calling process."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.fp32_precision = "ieee"
    torch.backends.cudnn.benchmark = False


def prepare_training() -> None:
    """:func:`prepare`, and a fixed thread count for the pack this process trains.

    A CPU kernel's summation order depends on how many threads split it, so a pack trained
    with 2 threads ends with other floats than the same pack with 1. The thread count is
    therefore fixed, not derived from cores, workers or Dask slots: ``n_jobs``, a cluster
    or a resume with fewer packs left than workers change where packs run and how many run
    at once, never what they compute. Parallelism comes from packs in separate processes.
    """
    prepare()
    torch.set_num_threads(PACK_THREADS)
