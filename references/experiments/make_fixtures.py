"""Reference fixtures for src/experiments, computed with scipy, statsmodels, GrowthBook's
gbstats and the xxhash package.

Writes references/experiments/fixtures.json with the inputs (seeded, generated here) and the
reference results, so the Rust tests (src/experiments/stats.rs, assignment.rs) need no Python:

    python -m venv /root/.venvs/recast-exp
    /root/.venvs/recast-exp/bin/pip install -r references/experiments/requirements.txt
    /root/.venvs/recast-exp/bin/python references/experiments/make_fixtures.py

Cases (alpha = 0.05 throughout):
- welch: revenue-like per-user values (zero-inflated log-normal, unequal arms). scipy
  ttest_ind(equal_var=False) p-value and interval; gbstats TwoSidedTTest absolute and relative.
- proportions: statsmodels proportions_ztest (pooled) and confint_proportions_2indep (wald).
- ratio: clicks / exposures per user; gbstats RatioStatistic variance per arm; the z-test of
  the difference from those variances with scipy's normal distribution.
- srm: scipy chisquare and gbstats check_srm for a fair and a broken split.
- cuped: post (y) and pre-period (x) values; gbstats TwoSidedTTest on
  RegressionAdjustedStatistic (pooled theta), absolute and relative.
- sequential: gbstats SequentialTwoSidedTTest (tuning 5000), absolute, interval and p-value.
- bayes: gbstats EffectBayesianABTest, absolute, flat prior: chance to win.
- multiple: statsmodels multipletests holm and fdr_bh.
- assignment: bucket = xxh3_128(len(salt) u32 LE + salt + user id) low 64 bits mod 10000.
"""

import json
import pathlib
import struct

import numpy as np
import scipy
import statsmodels
import xxhash
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

import gbstats
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

OUT = pathlib.Path(__file__).resolve().parent / "fixtures.json"
ALPHA = 0.05
rng = np.random.default_rng(20261122)


def revenue(n, p_buy, mu):
    buys = rng.random(n) < p_buy
    return np.where(buys, rng.lognormal(mu, 0.8, n), 0.0).round(2)


def mean_stat(x):
    x = np.asarray(x, dtype=float)
    return SampleMeanStatistic(n=len(x), sum=float(x.sum()), sum_squares=float((x * x).sum()))


def freq(test_cls, a, b, relative, **extra):
    cfg_cls = SequentialConfig if test_cls is SequentialTwoSidedTTest else FrequentistConfig
    cfg = cfg_cls(alpha=ALPHA, difference_type="relative" if relative else "absolute", **extra)
    t = test_cls(a, b, cfg)
    return {"estimate": float(t.point_estimate), "ci": [float(v) for v in t.confidence_interval],
            "p_value": float(t.p_value)}


def welch_case():
    c = revenue(400, 0.3, 3.0)
    t = revenue(350, 0.35, 3.1)
    res = stats.ttest_ind(t, c, equal_var=False)
    ci = res.confidence_interval(0.95)
    return {
        "control": c.tolist(), "treatment": t.tolist(),
        "scipy": {"p_value": float(res.pvalue), "ci": [float(ci.low), float(ci.high)],
                  "df": float(res.df)},
        "gbstats_absolute": freq(TwoSidedTTest, mean_stat(c), mean_stat(t), False),
        "gbstats_relative": freq(TwoSidedTTest, mean_stat(c), mean_stat(t), True),
    }


def proportions_case():
    xc, nc, xt, nt = 412, 5000, 468, 5100
    z, p = proportions_ztest([xt, xc], [nt, nc])
    lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=ALPHA)
    return {"xc": xc, "nc": nc, "xt": xt, "nt": nt, "p_value": float(p), "z": float(z),
            "ci": [float(lo), float(hi)]}


def ratio_case():
    def arm(n, ctr):
        exposures = rng.integers(1, 12, n).astype(float)
        clicks = rng.binomial(exposures.astype(int), ctr).astype(float)
        return clicks, exposures

    def gb(clicks, exposures):
        return RatioStatistic(n=len(clicks), m_statistic=mean_stat(clicks),
                              d_statistic=mean_stat(exposures),
                              m_d_sum_of_products=float((clicks * exposures).sum()))

    yc, xc = arm(300, 0.10)
    yt, xt = arm(320, 0.12)
    sc, st = gb(yc, xc), gb(yt, xt)
    var_c, var_t = sc.variance / sc.n, st.variance / st.n
    diff = st.mean - sc.mean
    se = np.sqrt(var_c + var_t)
    z = stats.norm.ppf(1 - ALPHA / 2)
    return {
        "control_clicks": yc.tolist(), "control_exposures": xc.tolist(),
        "treatment_clicks": yt.tolist(), "treatment_exposures": xt.tolist(),
        "control_value": float(sc.mean), "treatment_value": float(st.mean),
        "control_var": float(var_c), "treatment_var": float(var_t),
        "p_value": float(2 * stats.norm.sf(abs(diff / se))),
        "ci": [float(diff - z * se), float(diff + z * se)],
    }


def srm_case():
    out = []
    for users, weights in [([5040, 4960], [0.5, 0.5]), ([5300, 4700], [0.5, 0.5]),
                           ([3020, 3010, 3970], [0.3, 0.3, 0.4])]:
        chi, p = stats.chisquare(users, np.sum(users) * np.asarray(weights) / np.sum(weights))
        out.append({"users": users, "weights": weights, "statistic": float(chi),
                    "p_value": float(p), "gbstats_p_value": float(check_srm(users, weights))})
    return out


def cuped_case():
    def arm(n, lift):
        x = revenue(n, 0.4, 3.0)
        y = (0.7 * x + revenue(n, 0.3, 2.8) + lift * (x > 0)).round(2)
        return y, x

    yc, xc = arm(500, 0.0)
    yt, xt = arm(480, 3.0)

    def gb(y, x):
        return RegressionAdjustedStatistic(n=len(y), post_statistic=mean_stat(y),
                                           pre_statistic=mean_stat(x),
                                           post_pre_sum_of_products=float((y * x).sum()), theta=0)

    absolute = TwoSidedTTest(gb(yc, xc), gb(yt, xt), FrequentistConfig(alpha=ALPHA, difference_type="absolute"))
    theta = float(absolute.stat_a.theta)
    relative = freq(TwoSidedTTest, gb(yc, xc), gb(yt, xt), True)
    return {
        "control_y": yc.tolist(), "control_x": xc.tolist(),
        "treatment_y": yt.tolist(), "treatment_x": xt.tolist(),
        "theta": theta,
        "absolute": {"estimate": float(absolute.point_estimate),
                     "ci": [float(v) for v in absolute.confidence_interval],
                     "p_value": float(absolute.p_value)},
        "relative": relative,
        "unadjusted_p_value": float(stats.ttest_ind(yt, yc, equal_var=False).pvalue),
    }


def sequential_case(w):
    c, t = mean_stat(w["control"]), mean_stat(w["treatment"])
    return {"absolute": freq(SequentialTwoSidedTTest, c, t, False, sequential_tuning_parameter=5000)}


def bayes_case(w):
    c, t = mean_stat(w["control"]), mean_stat(w["treatment"])
    test = EffectBayesianABTest(c, t, EffectBayesianConfig(difference_type="absolute"))
    return {"chance_to_win": float(test.compute_result().chance_to_win)}


def multiple_case():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    return {"p": p, "holm": multipletests(p, method="holm")[1].tolist(),
            "bh": multipletests(p, method="fdr_bh")[1].tolist()}


def bucket(salt, user):
    s = salt.encode()
    data = struct.pack("<I", len(s)) + s + user.encode()
    return (xxhash.xxh3_128_intdigest(data) & 0xFFFFFFFFFFFFFFFF) % 10000


def assignment_case():
    ids = ["user-1", "user-2", "42", "", "José", "Jose\u0301", "用户-1", "пользователь", "🙂",
           "a\u0000b", "x" * 300]
    salts = ["exp-1", "ünïcödé-salt", ""]
    return [{"salt": s, "user_id": u, "bucket": bucket(s, u)} for s in salts for u in ids]


def main():
    w = welch_case()
    doc = {
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "statsmodels": statsmodels.__version__,
                     "gbstats": getattr(gbstats, "__version__", "0.8.0"),
                     "xxhash": xxhash.VERSION},
        "alpha": ALPHA,
        "welch": w,
        "proportions": proportions_case(),
        "ratio": ratio_case(),
        "srm": srm_case(),
        "cuped": cuped_case(),
        "sequential": sequential_case(w),
        "bayes": bayes_case(w),
        "multiple": multiple_case(),
        "assignment": assignment_case(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
