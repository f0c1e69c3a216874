"""Shared fixtures: a tiny randomly initialised BERT encoder saved to a folder (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: reads the benchmark data in ../shared/data or runs long")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Converted encoders (ONNX) go to a per-run folder, never the user's ~/.cache."""
    import os

    old = os.environ.get("SPANDEC_CACHE")
    os.environ["SPANDEC_CACHE"] = str(tmp_path_factory.mktemp("spandec-cache"))
    yield
    if old is None:
        os.environ.pop("SPANDEC_CACHE", None)
    else:
        os.environ["SPANDEC_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """Folder of a 2-layer, 32-wide BERT with the default encoder's tokenizer."""
    from transformers import BertConfig, BertModel

    from spandec.models.encoder import load_tokenizer

    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    load_tokenizer("default").save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run much faster on one thread, especially next to other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def overfit_data():
    """The 20 project-written sentences of data/fixtures/overfit.conll."""
    from spandec.data import read_conll

    return read_conll(Path(__file__).resolve().parent.parent / "data" / "fixtures" / "overfit.conll")
