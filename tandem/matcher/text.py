"""Free-text similarity: a small embedding protocol and its TF-IDF implementation.

The research-interests scorer needs one vector per text such that the dot product of two
vectors is their cosine similarity. :class:`TextEmbedder` is that contract; a
sentence-embedding model can implement it later (returning dense rows) without touching
the scorer. :class:`TfidfEmbedder` is the built-in, dependency-free implementation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float32]
Embedding: TypeAlias = sp.csr_array | FloatArray
"""One row per text: a scipy CSR array (sparse vectors) or a dense float32 array."""

_TOKEN = re.compile(r"[^\W\d_][^\W_]+")
"""Words of two or more letters or digits, starting with a letter (Unicode-aware)."""


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns the texts of one cycle into unit vectors; cosine similarity is a dot product."""

    def embed(self, texts: Sequence[str]) -> Embedding:
        """One L2-normalised row per text, in order.

        A text with nothing to embed (empty, or no known word) gets an all-zero row, which
        the scorer reads as missing data. An embedder that learns from its input (TF-IDF)
        is fit on exactly ``texts``; the result depends only on ``texts``.
        """
        ...


def tokenize(text: str) -> list[str]:
    """The lower-cased words of ``text`` that TF-IDF counts."""
    return _TOKEN.findall(text.lower())


class TfidfEmbedder:
    """TF-IDF vectors over the words of the texts, fit on the texts being embedded.

    Term frequency is sublinear (``1 + log count``); inverse document frequency is smoothed
    (``log((1 + n) / (1 + df)) + 1``); rows are L2-normalised. Words that occur in more than
    ``max_df`` of the texts (when there are at least ``min_texts_for_max_df`` texts) carry
    almost no signal, like "the" or "research", and are dropped: this also keeps the
    similarity products sparse. The vocabulary is sorted, so the result is deterministic.
    """

    def __init__(self, max_df: float = 0.2, min_texts_for_max_df: int = 50) -> None:
        if not 0 < max_df <= 1:
            raise ValueError("max_df must be in (0, 1]")
        self.max_df = max_df
        self.min_texts_for_max_df = min_texts_for_max_df

    def embed(self, texts: Sequence[str]) -> sp.csr_array:
        """Sparse TF-IDF rows (float32, shape ``(len(texts), vocabulary size)``)."""
        n_texts = len(texts)
        documents = [tokenize(text) for text in texts]
        vocabulary = sorted({word for words in documents for word in words})
        index = {word: i for i, word in enumerate(vocabulary)}
        rows = np.repeat(np.arange(n_texts, dtype=np.int64), [len(words) for words in documents])
        cols = np.fromiter(
            (index[word] for words in documents for word in words),
            dtype=np.int64,
            count=len(rows),
        )
        n_terms = len(vocabulary)
        if n_terms == 0:
            return sp.csr_array((n_texts, 0), dtype=np.float32)
        keys, counts = np.unique(rows * n_terms + cols, return_counts=True)
        doc = keys // n_terms
        term = keys % n_terms
        document_frequency = np.bincount(term, minlength=n_terms)
        keep = np.ones(n_terms, dtype=bool)
        if n_texts >= self.min_texts_for_max_df:
            keep = document_frequency <= self.max_df * n_texts
        idf = np.log((1.0 + n_texts) / (1.0 + document_frequency)) + 1.0
        values = (1.0 + np.log(counts)) * idf[term]
        values[~keep[term]] = 0.0
        matrix = sp.csr_array((values, (doc, term)), shape=(n_texts, n_terms), dtype=np.float64)
        matrix.eliminate_zeros()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalized = sp.csr_array(sp.diags_array(scale) @ matrix)
        normalized.sort_indices()
        return normalized.astype(np.float32)
