"""AttFind (StylEx and DiffEx) on hand-made effect tensors, and effects/sufficiency on a known toy."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.errors import LatentLensError
from latentlens.explain.attributes import (
    attribute_effects,
    diffex_attfind,
    filter_unstable_images,
    class_contrast_directions,
    independent_directions,
    range_displacements,
    signed_displacements,
    stylex_attfind,
    sufficiency,
)


def test_stylex_greedy_returns_the_known_order_and_respects_the_image_cap():
    # 6 images of class 0, target class 1; attribute 2 (up) moves images 0-2 a lot, attribute 0 (down) moves
    # images 3-5, attribute 1 (up) moves all a little but the same images as attribute 2
    e = np.zeros((6, 2, 3, 2))
    e[:3, 1, 2, 1] = 2.0
    e[3:, 0, 0, 1] = 1.5
    e[:3, 1, 1, 1] = 1.9
    picks = stylex_attfind(e, target=1, predicted=np.zeros(6), n_attributes=3, max_image_effect=1.0)
    assert [(p["attribute"], p["sign"]) for p in picks[:2]] == [(2, 1), (0, 0)]
    # attribute 1 only helps images 0-2, already over the cap: it is not chosen next
    assert len(picks) == 2 or picks[2]["score"] == 0


def test_stylex_ignores_images_of_the_target_class_and_unstable_images():
    e = np.zeros((4, 2, 2, 2))
    e[0, 1, 0, 1] = 5.0  # image 0 is already of the target class
    e[1:, 1, 1, 1] = 1.0
    picks = stylex_attfind(e, target=1, predicted=np.array([1, 0, 0, 0]), n_attributes=1)
    assert (picks[0]["attribute"], picks[0]["sign"]) == (1, 1)
    wild = np.zeros((3, 2, 400, 2))
    wild[0] = 3.0  # every edit moves image 0's logits by 3
    assert filter_unstable_images(wild, max_changed=750).tolist() == [False, True, True]


def test_diffex_pool_removal_and_decaying_threshold():
    e = np.zeros((4, 2, 3))
    e[:2, 1, 0] = 0.9  # attribute 0 up explains images 0 and 1
    e[2:, 0, 1] = 0.3  # attribute 1 down moves images 2, 3 by 0.3
    e[:, 1, 2] = 0.19  # attribute 2 up: a small effect on every image
    picks = diffex_attfind(e, n_attributes=5, threshold=0.2, decay=0.02)
    assert [(p["attribute"], p["sign"]) for p in picks[:2]] == [(0, 1), (1, 0)]
    # after images 0 and 1 left the pool, attribute 1's mean over images 2-3 is 0.3 (above 0.18)
    assert picks[1]["score"] == 0.3
    assert all(p["attribute"] != 2 or p["score"] > 0.2 - 0.02 * i for i, p in enumerate(picks))


def test_effects_and_sufficiency_on_a_linear_toy():
    """decode = identity, classify = logits [0, z0 - 0.5]: only direction 0 moves the decision."""
    decode = lambda z: z  # noqa: E731
    classify = lambda x: torch.stack([torch.zeros(len(x)), x[:, 0] - 0.5], 1)  # noqa: E731
    z = torch.zeros(10, 3)
    dirs = torch.eye(3)
    e = attribute_effects(decode, classify, z, dirs, strength=1.0)
    assert e.shape == (10, 2, 3, 2)
    np.testing.assert_allclose(e[:, 1, 0, 1], 1.0)
    np.testing.assert_allclose(e[:, 0, 0, 1], -1.0)
    np.testing.assert_allclose(e[:, :, 1:, :], 0.0)
    picks = stylex_attfind(e, target=1, predicted=np.zeros(10), n_attributes=2)
    assert (picks[0]["attribute"], picks[0]["sign"]) == (0, 1)
    assert sufficiency(decode, classify, z, dirs, picks[:1], 1.0, target=1) == [1.0]
    assert sufficiency(decode, classify, z, dirs, [{"attribute": 1, "sign": 1}], 1.0, target=1) == [0.0]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), width=st.integers(1, 5), extra=st.integers(0, 3))
def test_range_displacements_land_on_the_range_ends_and_move_nothing_else(seed, n, width, extra):
    """StylEx's edit: z + delta * d puts the coordinate along d exactly at the population's min (sign 0) or max
    (sign 1), leaves the orthogonal complement and the coordinates beyond the directions' width alone."""
    g = torch.Generator().manual_seed(seed)
    population = torch.randn(3 * n, width + extra, generator=g) * torch.rand(width + extra, generator=g).add(0.1)
    z = population[:n]
    q, _ = torch.linalg.qr(torch.randn(width, width, generator=g))
    dirs = q.T[: max(1, width - 1)]
    delta = range_displacements(z, dirs, population)
    assert delta.shape == (n, 2, len(dirs))
    assert (delta[:, 0] <= 1e-6).all() and (delta[:, 1] >= -1e-6).all()
    along = population[:, :width] @ dirs.T
    for k, d in enumerate(dirs):
        for sign, end in ((0, along[:, k].min()), (1, along[:, k].max())):
            edited = z.clone()
            edited[:, :width] += delta[:, sign, k, None] * d[None]
            torch.testing.assert_close(edited[:, :width] @ d, end.expand(n), atol=1e-4, rtol=0)
            rest = torch.eye(width) - torch.outer(d, d)
            torch.testing.assert_close((edited - z)[:, :width] @ rest, torch.zeros(n, width), atol=1e-4, rtol=0)
            assert torch.equal(edited[:, width:], z[:, width:])


def test_range_displacements_drive_effects_and_sufficiency():
    """On the linear toy, moving z0 to its maximum over a population whose z0 reaches 1 flips every image,
    and a population that only reaches 0.4 flips none: the edit size comes from the data, not a step."""
    decode = lambda z: z  # noqa: E731
    classify = lambda x: torch.stack([torch.zeros(len(x)), x[:, 0] - 0.5], 1)  # noqa: E731
    z = torch.zeros(6, 2)
    dirs = torch.eye(2)
    wide = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    narrow = torch.tensor([[-0.4, 0.0], [0.4, 0.0]])
    e = attribute_effects(decode, classify, z, dirs, range_displacements(z, dirs, wide))
    np.testing.assert_allclose(e[:, 1, 0, 1], 1.0)
    np.testing.assert_allclose(e[:, 0, 0, 1], -1.0)
    pick = [{"attribute": 0, "sign": 1}]
    assert sufficiency(decode, classify, z, dirs, pick, range_displacements(z, dirs, wide), target=1) == [1.0]
    assert sufficiency(decode, classify, z, dirs, pick, range_displacements(z, dirs, narrow), target=1) == [0.0]
    with pytest.raises(LatentLensError, match="images, 2, attributes"):
        signed_displacements(torch.zeros(5, 2, 2), 6, 2)
    with pytest.raises(LatentLensError, match="one per direction"):
        signed_displacements([1.0, 2.0, 3.0], 6, 2)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.integers(2, 5))
def test_independent_directions_recover_the_mixing_columns(seed, width):
    """Latents made of independent uniform sources mixed by a random (non-orthogonal) matrix: each recovered
    direction is one mixing column up to sign, and an edit along it moves one source only."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(width, width)) + 2 * np.eye(width)
    sources = rng.uniform(-1, 1, size=(3000, width))
    dirs = independent_directions(sources @ mixing.T + rng.normal(size=width), random_state=seed).numpy()
    columns = mixing.T / np.linalg.norm(mixing.T, axis=1, keepdims=True)
    cos = np.abs(dirs @ columns.T)
    assert dirs.shape == (width, width) and (cos.max(1) > 0.98).all()
    assert sorted(cos.argmax(1).tolist()) == list(range(width))
    moved = np.linalg.solve(mixing, dirs.T).T  # the sources an edit along each direction changes
    moved = np.abs(moved) / np.abs(moved).max(1, keepdims=True)
    assert (np.sort(moved, 1)[:, -2] < 0.1).all()
    with pytest.raises(LatentLensError, match="independent directions"):
        independent_directions(sources[:3], n_directions=width + 1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.integers(4, 8))
def test_class_contrast_directions_find_the_class_own_independent_changes(seed, width):
    """Two classes share Gaussian latents and a strong uniform nuisance; the class also shows two phenotypes,
    independent uniform amounts along two directions 60 degrees apart (the nuisance outside their plane). The
    directions are the two phenotypes' (+ pointing towards the class), never the nuisance's, and an edit along
    one moves one phenotype only."""
    rng = np.random.default_rng(seed)
    n = 4000
    nuisance, pheno = rng.normal(size=width), rng.normal(size=(2, width))
    pheno[1] -= (pheno[1] @ pheno[0]) / (pheno[0] @ pheno[0]) * pheno[0]
    pheno = pheno / np.linalg.norm(pheno, axis=1, keepdims=True)
    pheno[1] = 0.87 * pheno[1] + 0.5 * pheno[0]
    nuisance -= np.linalg.lstsq(pheno.T, nuisance, rcond=None)[0] @ pheno
    z = 0.5 * rng.normal(size=(2 * n, width)) + rng.uniform(-4, 4, size=(2 * n, 1)) * nuisance
    in_class = np.arange(2 * n) < n
    amounts = rng.uniform(0, 2, size=(n, 2)) * np.array([4.0, 3.0])
    z[:n] += amounts @ pheno
    dirs = class_contrast_directions(z, in_class, random_state=seed).numpy()
    assert dirs.shape == (2, width)
    cos = dirs @ pheno.T / np.linalg.norm(pheno, axis=1)
    assert sorted(np.abs(cos).argmax(1).tolist()) == [0, 1] and (cos.max(1) > 0.98).all()  # both, signed +
    moved = np.linalg.lstsq(pheno.T, dirs.T, rcond=None)[0].T  # each direction as phenotype amounts
    moved = np.abs(moved) / np.abs(moved).max(1, keepdims=True)
    assert (np.sort(moved, 1)[:, 0] < 0.15).all()
    plain = independent_directions(z[in_class], n_directions=3, random_state=seed).numpy()  # sees the nuisance too
    assert np.abs(plain @ nuisance / np.linalg.norm(nuisance)).max() > 0.9
    assert len(class_contrast_directions(z, in_class, n_directions=1)) == 1
    with pytest.raises(LatentLensError, match="class-contrast directions need"):
        class_contrast_directions(z[: width + 3], np.arange(width + 3) < 2)
