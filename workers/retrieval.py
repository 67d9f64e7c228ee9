"""Demonstration selection for ICL probes: random draws, Okapi BM25, or embedding cosine similarity.

References
----------
Robertson and Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond", Found. Trends
Inf. Retr. 3(4), Eq. 3.15 (k1 = 1.5, b = 0.75 as in their Sec. 3.5 ranges); the idf is the
non-negative variant log(1 + (N - n + 0.5) / (n + 0.5)) used by Lucene.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["Bm25", "random_demonstrations", "tokenize"]

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Bm25:
    """An Okapi BM25 index over ``documents``; ``top_k(query, k)`` returns document indices, best first."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.term_counts = [Counter(tokenize(document)) for document in documents]
        self.lengths = [sum(counts.values()) for counts in self.term_counts]
        self.mean_length = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        frequency: Counter[str] = Counter()
        for counts in self.term_counts:
            frequency.update(counts.keys())
        n = len(documents)
        self.idf = {term: math.log(1.0 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def scores(self, query: str) -> list[float]:
        terms = tokenize(query)
        result = []
        for counts, length in zip(self.term_counts, self.lengths, strict=True):
            norm = self.k1 * (1.0 - self.b + self.b * length / self.mean_length) if self.mean_length else self.k1
            result.append(
                sum(
                    self.idf.get(t, 0.0) * counts[t] * (self.k1 + 1.0) / (counts[t] + norm)
                    for t in terms
                    if t in counts
                )
            )
        return result

    def top_k(self, query: str, k: int, *, exclude: int | None = None) -> list[int]:
        scores = self.scores(query)
        ranked = sorted((i for i in range(len(scores)) if i != exclude), key=lambda i: (-scores[i], i))
        return ranked[:k]


def random_demonstrations(n_pool: int, k: int, rng: random.Random) -> list[int]:
    return rng.sample(range(n_pool), min(k, n_pool))
