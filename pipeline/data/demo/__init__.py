"""Deterministic synthetic corpora in the real IEMOCAP and CMU-MOSEI on-disk layouts.

A fresh clone has neither corpus; these demo corpora let ``dvc repro`` run end to end and
exercise every reader on the same kinds of files a user has.
"""
