"""Deterministic synthetic corpora in the real IEMOCAP and CMU-MOSEI on-disk layouts.

A fresh clone has neither corpus; these demo corpora let ``dvc repro`` run end to end and
exercise every reader on the same kinds of files a user has.
"""

DEMO_ROOT = "data/demo"
"""Where the stage `demo` writes the synthetic corpora: a corpus rooted there is the demo
(the report and the model card say so)."""
TRUTH_FILE = "truth.json"
"""What the demo generator wrote, beside the corpora it wrote: its presence marks a folder's
corpora as the synthetic demo (the IEMOCAP reader does not hold them to the paper's counts)."""
