"""A lean helper process that runs every RAPT request in a fresh fork of itself.

Why: SPTK's RAPT (ESPS get_f0) keeps static state between calls. After the first call in
a process, every call seeds its stationarity measure from memory left by earlier calls, so
the same audio gets a different f0 track depending on what the process analysed before
(and hence on ``n_jobs``). The first call in a pristine process is the well-defined one.
This server never runs RAPT itself: for each request it forks a child, which is pristine,
runs RAPT on the request's signals in order and reports back. It imports only numpy and
pysptk, which keeps each fork cheap (a few ms, against ~20 ms from a feature worker).

Protocol over stdin/stdout, little-endian:
  request:  <q n_signals> <d f0_min> <d f0_max> <q length> * n, then the float64 samples
  response: <q status>; if 0: <q frames> * n, then the float32 f0 values
Run it as a script; it exits when its stdin closes.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import traceback
import warnings

import numpy as np

REQUEST = struct.Struct("<qdd")
STATUS = struct.Struct("<q")
SAMPLE_RATE = 16_000
HOP = 160


def read_exact(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"expected {size} bytes, got {len(data)}")
    return data


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _child(signals: list[np.ndarray], f0_min: float, f0_max: float, out_fd: int) -> None:
    import pysptk  # imported by the server before forking; only the server needs it

    tracks = [
        pysptk.rapt(s, fs=SAMPLE_RATE, hopsize=HOP, min=f0_min, max=f0_max).astype(np.float32)
        for s in signals
    ]
    counts = np.array([len(t) for t in tracks], dtype=np.int64)
    view = memoryview(counts.tobytes() + np.concatenate(tracks).tobytes())
    while view:
        view = view[os.write(out_fd, view) :]


def serve(stdin, stdout) -> None:
    with warnings.catch_warnings():  # pysptk 1.0.1 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pysptk  # noqa: F401  (loaded once here, so each fork finds it ready)

    while header := stdin.read(REQUEST.size):
        n, f0_min, f0_max = REQUEST.unpack(header)
        lengths = np.frombuffer(read_exact(stdin, 8 * n), dtype=np.int64)
        samples = np.frombuffer(read_exact(stdin, 8 * int(lengths.sum())), dtype=np.float64)
        signals = np.split(samples, np.cumsum(lengths)[:-1])
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(read_fd)
                _child(signals, f0_min, f0_max, write_fd)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(write_fd)
        result = _drain(read_fd)
        os.close(read_fd)
        _, wait_status = os.waitpid(pid, 0)
        ok = wait_status == 0
        stdout.write(STATUS.pack(0 if ok else 1) + (result if ok else b""))
        stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: end quietly, the stage reports it
    serve(sys.stdin.buffer, sys.stdout.buffer)
