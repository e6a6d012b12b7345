"""What the category model reads in a text: character n-grams and jieba words of the normalised text.

Training (scikit-learn's TfidfVectorizer with `tokens` as its analyzer) and suggesting (`CategoryModel.vector`) use
this one function, so a model file always sees the features it was trained on.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

CHAR_NGRAMS = (1, 3)  # character n-gram lengths: short texts, no spaces, typos and 方言 survive in the bigrams
WORD_PREFIX = "w:"  # jieba words share the vocabulary with character n-grams; the prefix keeps them apart
MAX_CHARS = 200  # a description's head says what it is about; a 1000-character essay costs no more than this

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
_jieba_lock = threading.Lock()
_jieba = None


def normalize(text: str) -> str:
    """Fold width and case and drop spaces and punctuation, so 「井 盖，没了！」 reads as 井盖没了."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text or "").lower())


def _segmenter():
    """jieba, initialised once per process (building its prefix dictionary takes about a second)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first citizen's message."""
    _segmenter()


def tokens(text: str) -> list[str]:
    """The features of `text`: its character n-grams and its jieba words of two or more characters."""
    body = normalize(text)[:MAX_CHARS]
    low, high = CHAR_NGRAMS
    out = [body[i : i + n] for n in range(low, high + 1) for i in range(len(body) - n + 1)]
    if body:
        out += [WORD_PREFIX + w for w in _segmenter().lcut(body, HMM=False) if len(w) > 1]
    return out
