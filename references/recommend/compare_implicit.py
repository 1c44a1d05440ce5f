#!/usr/bin/env python3
"""Reference side of benches/als.rs: trains implicit's ALS on the same train.csv with the same
hyper-parameters (implicit's CPU solver runs 3 CG steps, as ours does) and evaluates NDCG@10
on test.csv with the same protocol (full ranking, training items excluded, binary relevance,
ideal DCG over min(|relevant|, 10)).

Confidence: recast uses c = 1 + alpha*r. implicit (>= 0.5) uses c = its_alpha * value, so it
is given value = 1 + alpha*r with its alpha at 1.0. Prints one JSON object on stdout.

    pip install implicit
    python3 references/recommend/compare_implicit.py DIR --users N --items M \
        --factors 64 --iterations 10 --regularization 0.05 --alpha 2.0 --threads 2
"""

import argparse
import csv
import json
import math
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def read(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return (
        np.array([int(r["user"]) for r in rows]),
        np.array([int(r["item"]) for r in rows]),
        np.array([float(r["value"]) for r in rows]),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--factors", type=int, required=True)
    ap.add_argument("--iterations", type=int, required=True)
    ap.add_argument("--regularization", type=float, required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    a = ap.parse_args()

    u, i, v = read(f"{a.dir}/train.csv")
    x = sp.csr_matrix((v, (u, i)), shape=(a.users, a.items), dtype=np.float32)
    x.sum_duplicates()
    conf = x.copy()
    conf.data = (1.0 + a.alpha * conf.data).astype(np.float32)

    model = AlternatingLeastSquares(
        factors=a.factors,
        regularization=a.regularization,
        alpha=1.0,
        iterations=a.iterations,
        use_cg=True,
        calculate_training_loss=False,
        random_state=42,
        num_threads=a.threads,
    )
    start = time.perf_counter()
    model.fit(conf, show_progress=False)
    seconds = time.perf_counter() - start

    tu, ti, _ = read(f"{a.dir}/test.csv")
    relevant = {}
    for uu, ii in zip(tu, ti):
        relevant.setdefault(int(uu), set()).add(int(ii))
    uf, itf = model.user_factors, model.item_factors
    total = 0.0
    for user, rel in relevant.items():
        scores = itf @ uf[user]
        seen = x.indices[x.indptr[user] : x.indptr[user + 1]]
        scores[seen] = -np.inf
        top = np.argpartition(-scores, 10)[:10]
        top = top[np.argsort(-scores[top], kind="stable")]
        dcg = sum(1.0 / math.log2(r + 2) for r, item in enumerate(top) if int(item) in rel)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), 10)))
        total += dcg / ideal
    print(
        json.dumps(
            {
                "ndcg": total / len(relevant),
                "seconds_per_iteration": seconds / a.iterations,
                "users": len(relevant),
            }
        )
    )


if __name__ == "__main__":
    main()
