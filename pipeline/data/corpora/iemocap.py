"""IEMOCAP reader: EmoEvaluation summary lines -> the four-class label table of the paper.

Rules (paper, section 4): improvised and scripted dialogs are both used; ``exc`` is merged
into ``hap``; only ang/hap/neu/sad are kept (``fru``, ``sur``, ``xxx``, ``oth``, ... dropped).
The speaker is the session plus the gender letter of the utterance id's *last* field:
``Ses01F_impro01_M013`` is spoken by ``Ses01M``. The dialog prefix (``Ses01F``) only says
who wore the motion-capture markers, and using it as the speaker mixes two actors.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.audio_check import probe_audio
from pipeline.data.corpora import files
from pipeline.data.corpora.labelling import check_counts
from pipeline.data.demo import TRUTH_FILE
from pipeline.runtime.errors import CorpusError

MERGE = {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"}
"""Raw IEMOCAP label -> class of the paper; any label not listed here is dropped."""

_SUMMARY = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?) - (?P<end>\d+(?:\.\d+)?)\]\t(?P<utt>\S+)\t(?P<label>[a-z]{3})\t"
    r"\[(?P<vad>[^\]]*)\]\s*$"
)
_ANNOTATION = re.compile(r"^[A-Z]+-[A-Z]+\d*:")
_UTT_ID = re.compile(r"^Ses(?P<session>\d{2})[FM]_.+_(?P<gender>[FM])\d+$")


@dataclass(frozen=True)
class Turn:
    """One evaluated utterance, as its EmoEvaluation summary line gives it."""

    utt_id: str
    raw_label: str
    start_s: float
    end_s: float
    source: Path
    line: int

    @property
    def session(self) -> str:
        return "Ses" + self.utt_id[3:5]

    @property
    def gender(self) -> str:
        return self.utt_id.rsplit("_", 1)[1][0]

    @property
    def speaker(self) -> str:
        return self.session + self.gender


def parse_emo_evaluation(path: str | Path) -> Iterator[Turn]:
    """Yield the summary line of every utterance block; annotator lines are skipped.

    Any line that is neither a summary, an annotator line (``C-E2:``, ``A-F1:``), a
    ``%`` comment nor blank is reported with its file and line number.
    """
    path = Path(path)
    dialog = path.stem
    with path.open(encoding="utf-8", errors="strict") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("%") or _ANNOTATION.match(line):
                continue
            match = _SUMMARY.match(line)
            if match is None:
                raise CorpusError(
                    path,
                    "expected an utterance summary '[START - END]<TAB>UTT_ID<TAB>LABEL<TAB>"
                    f"[V, A, D]' or an annotator line like 'C-E2:', got {line!r}",
                    line=number,
                )
            utt_id = match["utt"]
            if not utt_id.startswith(dialog + "_") or _UTT_ID.match(utt_id) is None:
                raise CorpusError(
                    path,
                    f"utterance id {utt_id!r} does not look like '{dialog}_<F|M><number>'",
                    line=number,
                )
            yield Turn(
                utt_id=utt_id,
                raw_label=match["label"],
                start_s=float(match["start"]),
                end_s=float(match["end"]),
                source=path,
                line=number,
            )


def _sessions(root: Path) -> list[Path]:
    if not root.is_dir():
        raise CorpusError(root, "IEMOCAP root not found; expected the IEMOCAP_full_release folder")
    sessions = sorted(p for p in root.glob("Session*") if (p / "dialog" / "EmoEvaluation").is_dir())
    if not sessions:
        raise CorpusError(
            root,
            "no session folders found; expected "
            f"{root / 'Session1' / 'dialog' / 'EmoEvaluation'} (and Session2..5 alike)",
        )
    return sessions


def read_turns(root: str | Path) -> tuple[list[Turn], Counter[str]]:
    """Every evaluated utterance of every session, in a stable order, and the files of the
    EmoEvaluation folders left out (copy debris, other files), by reason."""
    turns: list[Turn] = []
    left_out: Counter[str] = Counter()
    for session in _sessions(Path(root)):
        listing = files.list_files(session / "dialog" / "EmoEvaluation", ".txt")
        left_out.update(listing.left_out)
        for path in listing.files:
            turns.extend(parse_emo_evaluation(path))
    seen: dict[str, Turn] = {}
    for turn in turns:
        if turn.utt_id in seen:
            first = seen[turn.utt_id]
            raise CorpusError(
                turn.source,
                f"utterance {turn.utt_id} already evaluated at {first.source}:{first.line}",
                line=turn.line,
            )
        seen[turn.utt_id] = turn
    return turns, left_out


def wav_path(root: Path, utt_id: str) -> Path:
    """Where IEMOCAP keeps an utterance's WAV: Session<n>/sentences/wav/<dialog>/<utt>.wav."""
    dialog = utt_id.rsplit("_", 1)[0]
    return root / f"Session{int(utt_id[3:5])}" / "sentences" / "wav" / dialog / f"{utt_id}.wav"


PAPER_COUNTS = {"ang": 1103, "hap": 1636, "neu": 1708, "sad": 1084}
"""The paper's class counts (section 4; 5,531 utterances, excitement merged into happiness)."""


def prepare(
    root: str | Path, expected_counts: Mapping[str, int] | str | None = "auto"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table; check the audio of every kept utterance.

    ``expected_counts`` (class -> count) turns a silently incomplete corpus copy into a
    loud error, the way SpeechBrain's recipe asserts its utterance count. ``auto`` (the
    default) holds a real copy to the paper's counts (:data:`PAPER_COUNTS`) and the demo
    corpus (beside the demo's :data:`~pipeline.data.demo.TRUTH_FILE`) to none; None checks
    nothing.
    """
    root = Path(root)
    expected_counts, checked = _expected(root, expected_counts)
    turns, left_out = read_turns(root)
    kept = [t for t in turns if t.raw_label in MERGE]
    paths = [str(wav_path(root, t.utt_id)) for t in kept]
    audio = probe_audio(paths, root)
    table = pd.DataFrame(
        {
            "utt_id": [t.utt_id for t in kept],
            "audio_path": paths,
            "start_s": 0.0,
            "end_s": [audio[p].duration_s for p in paths],
            "speaker": [t.speaker for t in kept],
            "session": [t.session for t in kept],
            "gender": [t.gender for t in kept],
            "label": [MERGE[t.raw_label] for t in kept],
        }
    )
    table["correct"] = [[label] for label in table["label"]]
    why = (
        " (expected_counts: auto holds a real copy to the paper's counts: an incomplete copy? "
        "For a deliberate subset set expected_counts: null)"
        if expected_counts is PAPER_COUNTS else ""
    )  # fmt: skip
    check_counts(Counter(table["label"]), expected_counts, root, why)
    info = {
        "counts_checked": checked,
        "evaluated_utterances": len(turns),
        "dropped": dict(
            sorted(Counter(t.raw_label for t in turns if t.raw_label not in MERGE).items())
        ),
        "left_out": files.left_out(left_out),
        "merged_exc_into_hap": sum(t.raw_label == "exc" for t in kept),
        "speakers": sorted(set(table["speaker"])),
    }
    return table, info


def _expected(
    root: Path, setting: Mapping[str, int] | str | None
) -> tuple[Mapping[str, int] | None, str]:
    """The counts ``expected_counts`` asks for, and how the label stage reports the check."""
    if setting == "auto":
        if (root.parent / TRUTH_FILE).is_file():
            return None, "no: the synthetic demo corpus"
        return PAPER_COUNTS, "the paper's counts (expected_counts: auto)"
    if setting is None:
        return None, "no (expected_counts: null)"
    return setting, "the counts of expected_counts"
