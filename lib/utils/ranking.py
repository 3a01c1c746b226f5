"""Ranking: indices of the highest scores, ties by index, as a stable sort gives them."""
import numpy as np


def descending_order(scores, top_n):
    """np.argsort(-scores, kind='stable')[:top_n] (top_n <= 0: all), without sorting
    everything: the top_n highest scores (ties at the cut: lowest indices) are found by a
    partition, then sorted stably. With a NaN (ranked last, as argsort ranks it) the whole
    array is sorted.

    scores: (M,) float; returns: (min(M, top_n),) int64 indices.
    """
    keys = -np.asarray(scores)  # (M,)
    if top_n <= 0 or top_n >= keys.size or np.isnan(keys).any():
        order = np.argsort(keys, kind='stable')
        return order[:top_n] if top_n > 0 else order
    cut = keys[np.argpartition(keys, top_n - 1)[:top_n]].max()  # the top_n-th smallest key
    below = np.flatnonzero(keys < cut)  # increasing indices
    at_cut = np.flatnonzero(keys == cut)[:top_n - below.size]
    chosen = np.concatenate([below, at_cut])  # (top_n,): ties stay in index order
    return chosen[np.argsort(keys[chosen], kind='stable')]
