"""`weights_fingerprint`: which weights a model spec names here, hashed over its weight files only."""
import hashlib

from langrl.models.specs import weights_fingerprint


def test_fingerprint_hashes_weight_files_in_name_order(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # not a weight file: changing it changes nothing
    (tmp_path / "b.bin").write_bytes(b"\x01\x02")
    (tmp_path / "a.safetensors").write_bytes(b"xyz")
    # by hand: sha256("a.safetensors" NUL "xyz" "b.bin" NUL 0x01 0x02)
    want = hashlib.sha256(b"a.safetensors\0xyz" + b"b.bin\0\x01\x02").hexdigest()
    got = weights_fingerprint(str(tmp_path))
    assert got == {"sha256": want, "files": ["a.safetensors", "b.bin"]}
    (tmp_path / "config.json").write_text('{"x": 1}')
    assert weights_fingerprint(str(tmp_path))["sha256"] == want
    (tmp_path / "b.bin").write_bytes(b"\x01\x03")  # one byte of one weight file: another fingerprint
    assert weights_fingerprint(str(tmp_path))["sha256"] != want


def test_fingerprint_of_a_gguf_file_and_of_nothing(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert weights_fingerprint(str(gguf)) == {"sha256": hashlib.sha256(b"m.gguf\0GGUF").hexdigest(),
                                              "files": ["m.gguf"]}
    assert weights_fingerprint(str(tmp_path / "missing")) is None  # not here: no fingerprint, no error
    assert weights_fingerprint("org/not-cached") is None  # a hub id: nothing is downloaded
    (tmp_path / "empty").mkdir()
    assert weights_fingerprint(str(tmp_path / "empty")) is None
