"""Tiny, offline, deterministic BERT models for tests (not a test module).

Each maker writes a model directory that the real loaders accept with no network:
``SentenceTransformer(str(path))``, ``CrossEncoder(str(path))``,
``transformers.AutoTokenizer.from_pretrained(path)`` and
``tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))``.

The tokenizer is a WordPiece over a small hand-written vocabulary: special tokens, letters,
digits, punctuation, ~500 common English words and a ``##`` piece for every letter and digit,
so any ASCII (or accented Latin) word tokenizes without ``[UNK]``.
"""

from __future__ import annotations

import math
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

try:  # sentence-transformers >= 5.4
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
except ImportError:  # pragma: no cover - older sentence-transformers
    from sentence_transformers.models import Normalize, Pooling, Transformer
from sentence_transformers import SentenceTransformer

__all__ = [
    "HIDDEN_SIZE",
    "MAX_POSITIONS",
    "build_tokenizer",
    "make_keyword_cross_encoder",
    "make_tiny_cross_encoder",
    "make_tiny_embedder",
]

HIDDEN_SIZE = 32
MAX_POSITIONS = 512
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Characters the BERT pre-tokenizer does not split off (Unicode symbols, not punctuation) end up
# inside words, so they also get ``##`` pieces.
_SYMBOLS = "€£¥°©®™§×±µ¢"
_UNICODE_PUNCT = "‘’“”–—…«»¡¿•·"
_WORDS_TEXT = """
the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us again
animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye
never last let thought city tree cross farm hard start might story saw far sea draw left late
run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river
car feet care second book carry took science eat room friend began idea fish mountain stop
once base hear horse cut sure watch color face wood main enough plain girl usual young ready
above ever red list though feel talk bird soon body dog family direct pose leave song measure
door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour
better true during hundred five remember step early hold west ground interest reach fast verb
sing listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold notice
voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star
box noun field rest correct able pound done beauty drive stood contain front teach week final
gave green quick develop ocean warm free minute strong special mind behind clear tail produce
fact street inch multiply nothing course stay wheel full force blue object decide surface deep
moon island foot system busy test record boat common gold possible plane stead dry wonder
laugh thousand ago ran check game shape equate hot miss brought heat snow tire bring yes
distant fill east paint language among cat file search document query passage invoice report
"""
_SUFFIXES = ("s", "es", "ed", "ing", "ly", "er", "est", "tion", "ment", "ness")


def _vocabulary(extra_words: tuple[str, ...] = ()) -> dict[str, int]:
    """Token -> id, specials first (so [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4)."""
    tokens: list[str] = list(SPECIAL_TOKENS)
    chars = string.ascii_lowercase + string.digits
    tokens += list(chars) + list(string.punctuation) + list(_UNICODE_PUNCT) + list(_SYMBOLS)
    tokens += [f"##{c}" for c in chars + _SYMBOLS]
    tokens += [f"##{s}" for s in _SUFFIXES]
    tokens += _WORDS_TEXT.split() + list(extra_words)
    return {token: idx for idx, token in enumerate(dict.fromkeys(tokens))}


def build_tokenizer(extra_words: tuple[str, ...] = ()) -> Tokenizer:
    """The WordPiece tokenizer shared by all tiny models (BERT-uncased style)."""
    vocab = _vocabulary(extra_words)
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _save_tokenizer(tokenizer: Tokenizer, directory: Path, model_max_length: int) -> None:
    """Write tokenizer.json, tokenizer_config.json (+ special tokens) and vocab.txt."""
    hf_tokenizer = BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )
    hf_tokenizer.save_pretrained(str(directory))
    _write_vocab_txt(tokenizer, directory)


def _write_vocab_txt(tokenizer: Tokenizer, directory: Path) -> None:
    vocab = tokenizer.get_vocab()
    ordered = sorted(vocab, key=vocab.__getitem__)
    (directory / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")


def _bert_config(vocab_size: int, **kwargs: object) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN_SIZE,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=0,
        **kwargs,
    )


_Model = TypeVar("_Model", bound=torch.nn.Module)


def _seeded(factory: Callable[[BertConfig], _Model], config: BertConfig) -> _Model:
    """Build a randomly initialised model with seed 0 without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return factory(config).eval()


def make_tiny_embedder(
    directory: Path, *, prompts: dict[str, str] | None = None, max_seq_length: int = 128
) -> Path:
    """Save a random 32-dim BERT + mean pooling + Normalize SentenceTransformer into `directory`.

    `prompts` (e.g. ``{"query": "query: ", "passage": "passage: "}``) are stored in
    ``config_sentence_transformers.json`` by SentenceTransformer's own ``save``.
    """
    if not 0 < max_seq_length <= MAX_POSITIONS:
        raise ValueError(f"max_seq_length must be in 1..{MAX_POSITIONS}, got {max_seq_length}")
    directory = Path(directory)
    tokenizer = build_tokenizer()
    bert = _seeded(BertModel, _bert_config(tokenizer.get_vocab_size()))
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as staging:
        bert.save_pretrained(staging)
        _save_tokenizer(tokenizer, Path(staging), max_seq_length)
        transformer = Transformer(staging, max_seq_length=max_seq_length)
        pooling = Pooling(HIDDEN_SIZE, "mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()], prompts=prompts, device="cpu"
        )
        model.max_seq_length = max_seq_length
        directory.mkdir(parents=True, exist_ok=True)
        model.save(str(directory), create_model_card=False)
    # Rewrite the tokenizer files: the loaded copy records staging-only keys (`is_local`, ...).
    _save_tokenizer(tokenizer, directory, max_seq_length)
    return directory


def _save_cross_encoder(
    directory: Path, model: BertForSequenceClassification, tokenizer: Tokenizer
) -> Path:
    """Save in the plain Hugging Face layout that hub rerankers use (CrossEncoder loads it)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    _save_tokenizer(tokenizer, directory, MAX_POSITIONS)
    return directory


def make_tiny_cross_encoder(directory: Path) -> Path:
    """Save a random BertForSequenceClassification (num_labels=1) reranker into `directory`."""
    tokenizer = build_tokenizer()
    config = _bert_config(tokenizer.get_vocab_size(), num_labels=1)
    return _save_cross_encoder(directory, _seeded(BertForSequenceClassification, config), tokenizer)


# Hidden dimensions used by the hand-set keyword reranker.
_KW, _KW_BAL, _CLS, _CLS_BAL, _OUT, _OUT_BAL = range(6)
# Attention logit of a keyword token and of [CLS] (as seen from the [CLS] query); every other
# token gets 0, i.e. weight e^-30 relative to them, which is negligible even at 512 tokens.
_KW_LOGIT = 30.0
_CLS_LOGIT = _KW_LOGIT + math.log(4.0)  # each keyword occurrence weighs 1/4 of [CLS]


def make_keyword_cross_encoder(directory: Path, keyword: str) -> Path:
    """Save a reranker whose score rises strictly with the number of `keyword` tokens in the pair.

    All weights are zero except a hand-set path (LayerNorm gains are 1, biases 0):

    * embeddings: the keyword token sets dims (KW, KW_BAL) = (+1, -1) and [CLS] sets
      (CLS, CLS_BAL) = (+1, -1); everything else, position and type embeddings included, is 0.
      The embedding LayerNorm maps those to (+4, -4) and leaves all other tokens at exactly 0.
    * layer 0 attention, head 0: a constant query; keys give logit 30 to keyword tokens,
      30 + ln 4 to [CLS] and 0 to the rest; values are 1 for keyword tokens, else 0. So the
      [CLS] position reads A = (k / 4) / (1 + k / 4) for k keyword tokens, independent of
      length (the other tokens' weight is ~e^-30). The output projection writes (+4A, -4A)
      into (OUT, OUT_BAL); after the residual LayerNorm, OUT = 4A / sqrt(1 + A^2).
    * the feed-forward blocks and layer 1 are all zero, so they pass the state through
      (LayerNorm of an already normalized vector is itself).
    * pooler: tanh(0.5 * OUT); classifier: 8 * pooled - 4.

    Logits for k = 0, 1, 2, 3 are about -4.0, -1.0, 0.5, 1.3 (CrossEncoder's sigmoid gives
    about 0.02, 0.27, 0.62, 0.79). The query side counts too, as does the keyword as a word
    prefix: WordPiece splits "cats" into "cat" + "##s".
    """
    normalized = build_tokenizer().normalizer.normalize_str(keyword.strip())
    tokenizer = build_tokenizer((normalized,))
    keyword_ids = tokenizer.encode(keyword, add_special_tokens=False).ids
    if len(keyword_ids) != 1:
        raise ValueError(f"keyword must be a single word, got {keyword!r}")
    keyword_id = keyword_ids[0]
    cls_id = tokenizer.token_to_id("[CLS]")

    config = _bert_config(tokenizer.get_vocab_size(), num_labels=1, hidden_dropout_prob=0.0)
    model = _seeded(BertForSequenceClassification, config)
    head_dim = HIDDEN_SIZE // config.num_attention_heads
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, param in params.items():
            param.fill_(1.0 if name.endswith("LayerNorm.weight") else 0.0)

        word = params["bert.embeddings.word_embeddings.weight"]
        word[keyword_id, _KW], word[keyword_id, _KW_BAL] = 1.0, -1.0
        word[cls_id, _CLS], word[cls_id, _CLS_BAL] = 1.0, -1.0

        # Post-LayerNorm features are 4.0; the attention score is q.k / sqrt(head_dim).
        layer = "bert.encoder.layer.0.attention."
        params[layer + "self.query.bias"][0] = math.sqrt(head_dim)
        params[layer + "self.key.weight"][0, _KW] = _KW_LOGIT / 4.0
        params[layer + "self.key.weight"][0, _CLS] = _CLS_LOGIT / 4.0
        params[layer + "self.value.weight"][0, _KW] = 1.0 / 4.0
        params[layer + "output.dense.weight"][_OUT, 0] = 4.0
        params[layer + "output.dense.weight"][_OUT_BAL, 0] = -4.0

        params["bert.pooler.dense.weight"][0, _OUT] = 0.5
        params["classifier.weight"][0, 0] = 8.0
        params["classifier.bias"][0] = -4.0
    return _save_cross_encoder(directory, model, tokenizer)
