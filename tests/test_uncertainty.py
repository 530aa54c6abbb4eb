"""alignlab.uncertainty against analytic answers: the bootstrap SE of a Bernoulli mean, the SE of
a mean of normals, paired against unpaired differences on correlated data, the verdicts' wording."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignlab.uncertainty import (
    bootstrap_means,
    describe_difference,
    difference,
    estimate,
    standard_error,
    verdict,
)


@pytest.mark.parametrize(("p", "n"), [(0.5, 400), (0.59, 400), (0.1, 1000), (0.9, 100)])
def test_the_se_of_a_bernoulli_mean_is_sqrt_p_1_minus_p_over_n(p: float, n: int) -> None:
    ones = round(p * n)
    values = [1.0] * ones + [0.0] * (n - ones)
    p_hat = ones / n
    analytic = math.sqrt(p_hat * (1 - p_hat) / n)
    # 2000 resamples: the Monte Carlo error of the SE is about 1/sqrt(2 * 2000) = 1.6% of it
    assert standard_error(values) == pytest.approx(analytic, rel=0.05)


def test_the_se_of_a_normal_mean_and_its_intervals() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(2.0, 0.5, size=250)
    est = estimate(values)
    sd = values.std()  # the bootstrap's plug-in sd (ddof 0)
    assert est.value == pytest.approx(values.mean())
    assert est.se == pytest.approx(sd / math.sqrt(250), rel=0.05)
    assert est.n == 250 and est.level == 0.95
    assert est.low < est.value < est.high
    assert est.high - est.low == pytest.approx(2 * 1.96 * est.se, rel=0.1)
    normal = estimate(values, method="normal")
    assert (normal.low, normal.high) == pytest.approx((est.value - 1.96 * est.se, est.value + 1.96 * est.se), rel=1e-3)
    assert estimate(values, level=0.5).high - estimate(values, level=0.5).low < est.high - est.low


def test_the_bootstrap_is_seeded() -> None:
    values = [0.0, 1.0, 1.0, 0.5, 0.25, 0.75]
    assert np.array_equal(bootstrap_means(values, seed=7), bootstrap_means(values, seed=7))
    assert not np.array_equal(bootstrap_means(values, seed=7), bootstrap_means(values, seed=8))
    assert standard_error(values) == standard_error(list(values))


def test_paired_differences_cancel_what_the_prompts_share() -> None:
    """a_i = x_i + e_i, b_i = x_i + delta + f_i with a large shared x: the paired SE is sd(e - f)/sqrt(n),
    the unpaired one sqrt((var a + var b) / n), several times larger."""
    rng = np.random.default_rng(0)
    n, delta = 200, 0.05
    shared = rng.normal(0.0, 0.3, size=n)
    a = shared + rng.normal(0.0, 0.05, size=n)
    b = shared + delta + rng.normal(0.0, 0.05, size=n)
    paired = difference(a, b, paired=True)
    unpaired = difference(a, b, paired=False)
    assert paired.value == pytest.approx(a.mean() - b.mean()) == unpaired.value
    assert paired.se == pytest.approx((a - b).std() / math.sqrt(n), rel=0.06)
    assert unpaired.se == pytest.approx(math.sqrt((a.var() + b.var()) / n), rel=0.06)
    assert unpaired.se > 3 * paired.se
    # the true difference is -0.05: paired, it is seen beyond noise; unpaired, it is lost in the prompts
    assert paired.beyond_noise and paired.high < 0
    assert not unpaired.beyond_noise and unpaired.low < 0 < unpaired.high
    assert paired.paired and not unpaired.paired


def test_unpaired_differences_of_different_sizes() -> None:
    a, b = [1.0] * 30 + [0.0] * 70, [1.0] * 120 + [0.0] * 80  # p = 0.3 over 100, 0.6 over 200
    diff = difference(a, b, paired=False)
    assert diff.value == pytest.approx(-0.3)
    assert diff.se == pytest.approx(math.sqrt(0.3 * 0.7 / 100 + 0.6 * 0.4 / 200), rel=0.06)
    assert (diff.n_a, diff.n_b) == (100, 200)
    with pytest.raises(ValueError, match="paired difference needs the same units"):
        difference(a, b, paired=True)


def test_degenerate_inputs() -> None:
    one = estimate([0.7])
    assert one.value == 0.7 and math.isnan(one.se) and not one.defined
    assert not difference([1.0], [0.0], paired=True).beyond_noise
    with pytest.raises(ValueError, match="at least one unit"):
        estimate([])
    with pytest.raises(ValueError, match="finite"):
        estimate([0.1, float("nan")])
    with pytest.raises(ValueError, match="level"):
        estimate([0.1, 0.2], level=1.5)
    constant = estimate([0.5] * 10)
    assert constant.se == 0.0 and constant.low == constant.high == 0.5


def test_verdicts_say_who_wins_beyond_noise_or_that_it_is_noise() -> None:
    rng = np.random.default_rng(1)
    shared = rng.normal(0.5, 0.2, size=100)
    better = shared + 0.1 + rng.normal(0, 0.02, size=100)
    same = shared + rng.normal(0, 0.02, size=100)
    up = difference(better, shared, paired=True)
    line = verdict(up, "trial 4", "the default", metric="win_rate", unit="prompts")
    assert line.startswith("trial 4 beats the default beyond noise on win_rate: trial 4 - the default = +0.099 ± 0.002")
    assert "paired over 100 prompts" in line and "95% interval" in line
    # for a metric to minimize, the higher one loses
    assert verdict(up, "A", "B", maximize=False, metric="kl").startswith("B beats A beyond noise on kl: B - A = -0.099")
    tie = difference(same, shared, paired=True)
    assert verdict(tie, "trial 4", "trial 11").startswith("trial 4 and trial 11 are within noise: trial 4 - trial 11 = ")
    assert describe_difference(difference([1.0], [0.0], paired=True)).endswith("(no interval: fewer than 2 units)")
