"""The GGUF header reader agrees with gguf's own reader, quickly, and refuses damaged files."""

from __future__ import annotations

import pytest

from desktop_assistant.core.errors import ModelError
from desktop_assistant.models.gguf_header import read_header


@pytest.fixture(scope="module")
def gguf_file(tiny_chat_dir, tmp_path_factory):
    from tests.inference.test_models import write_tiny_gguf

    return write_tiny_gguf(tiny_chat_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_same_answer_as_gguf_reader(gguf_file):
    from gguf import GGUFReader

    reader = GGUFReader(gguf_file)
    header = read_header(gguf_file)
    assert header.architecture == "qwen2"
    assert header.parameters == sum(int(t.n_elements) for t in reader.tensors)
    assert header.data_end == max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    assert header.data_end <= gguf_file.stat().st_size


@pytest.mark.parametrize("keep", [0, 3, 24, 200, 2000])
def test_a_file_cut_inside_its_header_is_damaged(gguf_file, tmp_path, keep):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gguf_file.read_bytes()[:keep])
    with pytest.raises(ModelError, match="truncated or damaged"):
        read_header(cut)


def test_a_file_cut_inside_its_tensors_reports_where_they_end(gguf_file, tmp_path):
    cut = tmp_path / "cut.gguf"
    data = gguf_file.read_bytes()
    cut.write_bytes(data[: len(data) - 100])
    assert read_header(cut).data_end > cut.stat().st_size  # read_gguf calls that truncated


def test_not_a_gguf_file(tmp_path):
    other = tmp_path / "model.gguf"
    other.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ModelError):
        read_header(other)
