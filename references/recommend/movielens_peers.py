"""The peers of benches/movielens.rs on MovieLens latest-small (../shared/data, read only).

Protocol (the bench's, the issue's): every rating is one implicit interaction; per user the
last 10 interactions by time (ties by movieId) are the test set; relevant = test items the
user did not have in training; full ranking of every item, training items excluded;
NDCG@10 (binary, ideal over min(|relevant|, 10)) and Recall@10 (hits / |relevant|), means
over users with a relevant item. Each peer is tuned on a validation split cut the same way
from the training part (each user's last 10 training interactions), refitted on the whole
training part with the best setting, and scored on the test set:

- numpy EASE: lambda in {50, 100, 200, 500, 1000, 2000};
- implicit ALS: factors {64, 128} x regularization {0.01, 0.1} x alpha {1, 10}, 15 iterations;
- implicit item-kNN (CosineRecommender): K in {20, 50, 100, 200}.

Prints one JSON object: per peer the chosen setting, validation and test NDCG@10 / Recall@10,
and the seconds of the final fit.

    /root/.venvs/recast-ease/bin/pip install -r references/recommend/requirements-peers.txt
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /root/.venvs/recast-ease/bin/python \
        references/recommend/movielens_peers.py PATH/TO/ratings.csv THREADS
"""

import csv
import warnings
import json
import sys
import time

import numpy as np
import scipy.sparse as sp

K = 10
LAST = 10


def load(path):
    per_user = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            per_user.setdefault(int(row["userId"]), []).append(
                (int(row["timestamp"]), int(row["movieId"]))
            )
    return per_user


def split(per_user):
    train, test = {}, {}
    for u, evs in per_user.items():
        evs = sorted(evs)
        if len(evs) > LAST:
            train[u], test[u] = evs[:-LAST], evs[-LAST:]
        else:
            train[u], test[u] = evs, []
    return train, test


def matrix(train, users, items):
    rows, cols = [], []
    for u, evs in train.items():
        for _, m in evs:
            rows.append(users[u])
            cols.append(items[m])
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    x.data[:] = 1.0
    return x


def evaluate(scores_for, x, train, test, users, items):
    ndcg, recall, n = 0.0, 0.0, 0
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    for u, evs in test.items():
        seen = {m for _, m in train.get(u, [])}
        rel = {items[m] for _, m in evs if m not in seen and m in items}
        if not rel:
            continue
        s = scores_for(users[u]).astype(np.float64).copy()
        s[x[users[u]].indices] = -np.inf
        top = np.argsort(-s, kind="stable")[:K]
        hits = np.array([i in rel for i in top], dtype=float)
        ndcg += (hits * discounts).sum() / discounts[: min(len(rel), K)].sum()
        recall += hits.sum() / len(rel)
        n += 1
    return ndcg / n, recall / n, n


def ease_fit(x, lam):
    g = (x.T @ x).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return b


def run_ease(x, lam):
    b = ease_fit(x, lam)
    return lambda u: np.asarray(x[u] @ b).ravel()


def run_als(x, factors, reg, alpha, threads):
    from implicit.als import AlternatingLeastSquares

    m = AlternatingLeastSquares(
        factors=factors, regularization=reg, alpha=alpha, iterations=15,
        num_threads=threads, random_state=7,
    )
    m.fit(x, show_progress=False)
    uf, itf = np.asarray(m.user_factors), np.asarray(m.item_factors)
    return lambda u: itf @ uf[u]


def run_knn(x, k, threads):
    from implicit.nearest_neighbours import CosineRecommender

    m = CosineRecommender(K=k, num_threads=threads)
    m.fit(x, show_progress=False)
    sim = m.similarity.tocsr()
    return lambda u: np.asarray((x[u] @ sim).todense()).ravel()


def tuned(name, grid, make, per_user, threads):
    train, test = split(per_user)
    inner_train, validation = split(train)
    users = {u: i for i, u in enumerate(sorted(per_user))}
    items = {m: j for j, m in enumerate(sorted({m for e in per_user.values() for _, m in e}))}
    xi = matrix(inner_train, users, items)
    best = None
    for setting in grid:
        v = evaluate(make(xi, *setting), xi, inner_train, validation, users, items)
        if best is None or v[0] > best[1][0]:
            best = (setting, v)
    x = matrix(train, users, items)
    t0 = time.perf_counter()
    scores = make(x, *best[0])
    fit_s = time.perf_counter() - t0
    t = evaluate(scores, x, train, test, users, items)
    return {
        "peer": name, "setting": list(best[0]), "validation_ndcg": best[1][0],
        "ndcg": t[0], "recall": t[1], "users": t[2], "fit_seconds": fit_s,
    }


def main():
    warnings.filterwarnings("ignore")
    path, threads = sys.argv[1], int(sys.argv[2])
    per_user = load(path)
    out = [
        tuned("numpy EASE", [(l,) for l in (50, 100, 200, 500, 1000, 2000)],
              lambda x, l: run_ease(x, l), per_user, threads),
        tuned("implicit ALS",
              [(f, r, a) for f in (64, 128) for r in (0.01, 0.1) for a in (1.0, 10.0)],
              lambda x, f, r, a: run_als(x, f, r, a, threads), per_user, threads),
        tuned("implicit item-kNN", [(k,) for k in (20, 50, 100, 200)],
              lambda x, k: run_knn(x, k, threads), per_user, threads),
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
