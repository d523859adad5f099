"""LatentCLR: the contrastive loss and the finder."""

from __future__ import annotations

import pytest
import torch

from latentlens.directions import LatentCLR, build_finder
from latentlens.directions.contrastive import contrastive_loss
from latentlens.testing import KnownDirectionsGenerator

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_loss_is_lower_for_truly_distinct_directions_than_for_duplicates():
    g = torch.Generator().manual_seed(0)
    k, n, f = 4, 16, 32
    axes = torch.linalg.qr(torch.randn(f, k, generator=g))[0].T  # K orthogonal feature directions
    distinct = axes[:, None] + 0.05 * torch.randn(k, n, f, generator=g)
    duplicated = axes[:1, None].expand(k, n, f) + 0.05 * torch.randn(k, n, f, generator=g)
    loss_distinct, acc_distinct = contrastive_loss(distinct)
    loss_dup, acc_dup = contrastive_loss(duplicated)
    assert float(loss_distinct) < float(loss_dup) - 0.1
    assert float(acc_distinct) == 1.0 and float(acc_dup) < 0.8


def test_latentclr_learns_distinguishable_directions_on_the_latent_and_on_a_layer():
    gen = KnownDirectionsGenerator(latent_dim=6, n_factors=4, size=16)
    finder = LatentCLR(n_directions=3, n_steps=150, batch_size=16, width=32, random_state=0).fit(gen)
    dirs = finder.directions_
    assert dirs.basis.shape == (3, 6) and torch.allclose(dirs.basis.norm(dim=1), torch.ones(3), atol=1e-5)
    assert finder.accuracy_ >= 0.9 and finder.history_[-1]["loss"] < finder.history_[0]["loss"]
    assert dirs.score_name == "consistency" and bool((dirs.scores <= 1.0001).all())
    on_layer = build_finder("latentclr", n_directions=3, features="first", n_steps=60, batch_size=8, width=16,
                            random_state=0).fit(gen)  # fmt: skip
    assert on_layer.directions_.basis.shape == (3, 6) and on_layer.accuracy_ > 0.5


def test_latentclr_refuses_a_single_direction():
    from latentlens.errors import LatentLensError

    with pytest.raises(LatentLensError):
        LatentCLR(n_directions=1, n_steps=2).fit(KnownDirectionsGenerator(latent_dim=4, size=16))
