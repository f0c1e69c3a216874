"""How well a SpanDec model's queries find their boundary: attention mass on the two marker keys,
on the span's own boundary subword, and how often that subword is the top text key (gold mentions).

    python comparisons/attention_check.py runs/conllpp/sf-spandec/best [DEV_FILE] [N_SENTENCES]
"""

from __future__ import annotations

import sys

import numpy as np

from spandec import load_model
from spandec.models.explain import cross_attention
from spandec.data import data_dir, read_conll


def main(model_path: str, dev: str, n: int) -> None:
    model = load_model(model_path)
    marker, own, top = [], [], []
    for s in read_conll(dev)[:n]:
        for a, b, _ in s.entities[:2]:
            w = cross_attention(model, s.words, (a, b))["weights"][0].mean(1)  # layer 1, heads averaged
            win = next(x for x in model.windows(s.words) if x.offset + x.core[0] <= a < x.offset + x.core[1])
            keys = [win.word_first[a - win.offset] + 2, win.word_last[b - 1 - win.offset] + 2]  # 2 marker keys first
            for q in range(2):
                marker.append(w[q, :2].sum())
                own.append(w[q, keys[q]])
                top.append(int(w[q, 2:].argmax() + 2 == keys[q]))
    print(f"{len(own) // 2} gold spans: mass on the marker keys {np.mean(marker):.3f}, on the boundary subword "
          f"{np.mean(own):.3f}; boundary subword is the top text key for {100 * np.mean(top):.1f} % of queries")


if __name__ == "__main__":
    import transformers

    transformers.logging.set_verbosity_error()
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else str(data_dir() / "conllpp" / "dev.txt"),
         int(sys.argv[3]) if len(sys.argv) > 3 else 120)
