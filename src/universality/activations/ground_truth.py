"""Planted ground truth carried by activation caches: which planted feature each SAE feature recovers, and whether a pair joins two recoveries of one."""

from __future__ import annotations

import numpy as np

PLANTED_MIN_COSINE = 0.9  # an SAE feature recovers a planted feature at this decoder cosine


def planted_labels(
    decoder_rows: np.ndarray, feature_vectors: np.ndarray, world_ids: np.ndarray, min_cosine: float = PLANTED_MIN_COSINE
) -> np.ndarray:
    """World id recovered by each SAE feature (best |cosine| with a planted direction), or -1."""
    rows = decoder_rows / np.maximum(np.linalg.norm(decoder_rows, axis=1, keepdims=True), 1e-12)
    truth = feature_vectors / np.linalg.norm(feature_vectors, axis=1, keepdims=True)
    cosine = rows @ truth.T
    best = cosine.argmax(axis=1)
    labels = world_ids[best].astype(np.int64)
    labels[cosine[np.arange(len(best)), best] < min_cosine] = -1
    return labels


def planted_recovery(label_a: np.ndarray, label_b: np.ndarray) -> dict:
    """How many pairs join two SAE features that recover the same planted feature.

    `label_a[i]`, `label_b[i]`: the planted (world) feature recovered by the two features of
    pair i (-1: none). Two sides share only the shared planted features, so equal labels mean
    a correct pair. Also counted: pairs whose features both recover some planted feature, and
    how many of those are correct (the wrong ones are real pairing errors; the remaining pairs
    involve SAE latents that match no planted direction).
    """
    correct = (label_a == label_b) & (label_a >= 0)
    recovered = (label_a >= 0) & (label_b >= 0)
    return {
        "n": len(label_a),
        "correct": int(correct.sum()),
        "share_correct": float(correct.mean()) if len(label_a) else 0.0,
        "both_recovered": int(recovered.sum()),
        "correct_among_recovered": int((correct & recovered).sum()),
        "min_cosine": PLANTED_MIN_COSINE,
    }
