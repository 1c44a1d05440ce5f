"""Reference fixture for crates/models/src/recommend/ease.rs, computed with numpy.

EASE (Steck 2019) on MovieLens latest-small (../shared/data, read, never copied): every
rating is one implicit interaction (value 1), items with at least MIN_RATINGS ratings, all
users. With G = X^T X and P = inv(G + lambda I), B = -P / diag(P) column-wise and diag(B) = 0.

Writes references/recommend/ease.json: the settings, the item count, and for every 50th
item (by movieId order) its ten largest weights (movieId, weight), which the Rust test
(crates/models/tests/ease_reference.rs) recomputes from the same file:

    python -m venv /root/.venvs/recast-ease
    /root/.venvs/recast-ease/bin/pip install -r references/recommend/requirements-ease.txt
    /root/.venvs/recast-ease/bin/python references/recommend/make_ease_fixtures.py
"""

import csv
import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
RATINGS = ROOT.parent / "shared" / "data" / "movielens-latest-small" / "ratings.csv"
MIN_RATINGS = 20
LAMBDA = 200.0
EVERY = 50
TOP = 10


def main():
    pairs = set()
    with open(RATINGS, newline="") as f:
        for row in csv.DictReader(f):
            pairs.add((int(row["userId"]), int(row["movieId"])))
    counts = {}
    for _, m in pairs:
        counts[m] = counts.get(m, 0) + 1
    movies = sorted(m for m, c in counts.items() if c >= MIN_RATINGS)
    col = {m: j for j, m in enumerate(movies)}
    users = sorted({u for u, m in pairs if m in col})
    row = {u: i for i, u in enumerate(users)}
    x = np.zeros((len(users), len(movies)))
    for u, m in pairs:
        if m in col:
            x[row[u], col[m]] = 1.0
    g = x.T @ x
    p = np.linalg.inv(g + LAMBDA * np.eye(len(movies)))
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    rows = []
    for j in range(0, len(movies), EVERY):
        order = np.argsort(-b[j], kind="stable")[:TOP]
        rows.append(
            {
                "movie": movies[j],
                "top": [[movies[k], float(b[j, k])] for k in order],
            }
        )
    out = {
        "source": "MovieLens latest-small ratings.csv, every rating = 1",
        "min_ratings": MIN_RATINGS,
        "lambda": LAMBDA,
        "numpy": np.__version__,
        "items": len(movies),
        "users": len(users),
        "rows": rows,
    }
    path = ROOT / "references" / "recommend" / "ease.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{path}: {len(movies)} items, {len(users)} users, {len(rows)} rows")


if __name__ == "__main__":
    main()
