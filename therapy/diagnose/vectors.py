"""Word vectors: the static token embeddings that the wordllama package ships inside its
wheel (l2_supercat, 256 dimensions, a Llama tokenizer). Nothing is downloaded: the files are
read from the installed package, and a missing file is a broken installation.

We read the two files directly rather than through wordllama's loader, which looks for the
tokenizer outside the package and would try to download it."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np

from therapy.model import TherapyError

WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_WORD = re.compile(r"\w+(?:['’]\w+)*")
TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


@dataclass(frozen=True)
class Tokens:
    """A text's tokens: their rows in the table, and which word of the text each is in."""

    ids: np.ndarray  # int
    words: tuple[str, ...]  # the word (as written) each token belongs to


class Vectors:
    """Loaded once per process, on first use, by whichever thread asks first."""

    _lock = threading.Lock()
    _loaded: Vectors | None = None

    def __init__(self) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            package = resources.files("wordllama")
            weights = load_file(str(package.joinpath(*WEIGHTS)))["embedding.weight"]
            tokenizer = Tokenizer.from_str(package.joinpath(*TOKENIZER).read_text("utf-8"))
        except (ImportError, OSError, KeyError, ValueError, Exception) as error:
            raise TherapyError(
                f"The suggester's word vectors could not be read ({error}); "
                "reinstall therapy (pip install --force-reinstall therapy)."
            ) from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.table = weights  # float16 as shipped: half the memory; rows are widened when used
        self.tokenizer = tokenizer
        self.dim = self.table.shape[1]

    @classmethod
    def load(cls) -> Vectors:
        with cls._lock:
            if cls._loaded is None:
                cls._loaded = cls()
            return cls._loaded

    def tokens(self, texts: list[str]) -> list[Tokens]:
        """Each text's tokens, lower-cased first: "Nobody" and "nobody" are one word here
        (measured: it suggests better than the table's own case)."""
        texts = [text.lower() for text in texts]
        found = []
        for text, encoding in zip(
            texts, self.tokenizer.encode_batch(texts, add_special_tokens=False), strict=True
        ):
            ids = np.clip(np.asarray(encoding.ids, dtype=np.int64), 0, len(self.table) - 1)
            # a token belongs to the word (letters and digits) it overlaps first; a token of
            # punctuation or space alone belongs to none ("")
            spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
            words: list[str] = []
            for start, end in encoding.offsets:
                word = next((text[a:b] for a, b in spans if a < end and start < b), "")
                words.append(word)
            found.append(Tokens(ids, tuple(words)))
        return found

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text: the mean of its token vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, tokens in enumerate(self.tokens(texts)):
            if len(tokens.ids):
                out[row] = self.table[tokens.ids].astype(np.float32).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)
