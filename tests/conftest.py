"""Shared fixtures: a tiny randomly initialised BERT encoder saved to a folder (no downloads)."""

from __future__ import annotations

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: reads the benchmark data in ../shared/data or runs long")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """Folder of a 2-layer, 32-wide BERT with the default encoder's tokenizer."""
    from transformers import BertConfig, BertModel

    from spandec.encoder import load_tokenizer

    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    load_tokenizer("default").save_pretrained(path)
    return str(path)
