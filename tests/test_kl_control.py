from __future__ import annotations

import pytest

from alignlab.kl_control import AdaptiveKLController


def test_coefficient_rises_above_target_and_falls_below() -> None:
    up = AdaptiveKLController(kl_coef=0.1, target=2.0, horizon=100)
    assert up.update(measured_kl=3.0, n_episodes=10) == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    down = AdaptiveKLController(kl_coef=0.1, target=2.0, horizon=100)
    assert down.update(measured_kl=1.9, n_episodes=10) == pytest.approx(0.1 * (1 - 0.05 * 10 / 100))


def test_error_is_clipped_and_coefficient_bounded() -> None:
    ctl = AdaptiveKLController(kl_coef=0.1, target=1.0, horizon=10)
    assert ctl.update(measured_kl=100.0, n_episodes=10) == pytest.approx(0.1 * 1.2)
    for _ in range(200):
        ctl.update(measured_kl=-5.0, n_episodes=10)
    assert ctl.kl_coef == ctl.min_coef


def test_controller_converges_on_a_simple_plant() -> None:
    # A plant whose KL is inversely proportional to the coefficient: KL = 0.2 / kl_coef.
    ctl = AdaptiveKLController(kl_coef=0.05, target=2.0, horizon=200)
    for _ in range(400):
        ctl.update(measured_kl=0.2 / ctl.kl_coef, n_episodes=32)
    assert 0.2 / ctl.kl_coef == pytest.approx(2.0, rel=0.05)
