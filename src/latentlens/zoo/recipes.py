"""The recipe of every zoo model: the ``latentlens`` command that trains it and how it is scored.

A recipe is the exact command line (without ``--out``) that ``latentlens zoo train NAME --out DIR`` runs, so
anyone can reproduce a shipped model with the toolkit's own commands. ``score`` names what is measured on
the trained model and recorded in its provenance (``disentanglement``: the metrics of
``latentlens evaluate``; ``gan_shapes``: shape frequencies and mean intensity of 10,000 samples read by the
dSprites factor predictor; ``ddpm_shapes``: the same of 2,000 DDIM samples (20 steps), and of their first 100 for a quick check;
``factor_predictor``: held-out accuracy of the predictor itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LatentLensError


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str  # "vae", "gan", "ddpm", "classifier"
    data: str
    description: str
    command: tuple[str, ...]  # latentlens arguments, without the program name and without --out
    score: str  # "disentanglement", "gan_shapes", "ddpm_shapes" or "factor_predictor"

    @property
    def seed(self) -> int | None:
        """The recipe's own training seed (its ``--seed``), or None when its command names none."""
        return int(self.command[self.command.index("--seed") + 1]) if "--seed" in self.command else None

    def argv(self, out: str, seed: int | None = None) -> list[str]:
        """The command with ``--out out``; ``seed`` replaces the recipe's training seed (its spread over seeds)."""
        command = list(self.command)
        if seed is not None:
            if "--seed" in command:
                command[command.index("--seed") + 1] = str(int(seed))
            else:
                command += ["--seed", str(int(seed))]
        return [*command, "--out", str(out)]


_VAE = ("train", "vae", "--data", "dsprites", "--seed", "0", "--lr", "1e-3", "--lr-schedule", "cosine",
        "--eval-every", "5000")

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "dsprites-factorvae", "vae", "dsprites",
            "FactorVAE (gamma 35) on dSprites, fast recipe (lr 1e-3 with cosine decay, 40k steps): the zoo's "
            "best-disentangled VAE",
            (*_VAE, "--objective", "factorvae", "--gamma", "35", "--disc-lr", "1e-4", "--steps", "40000"),
            "disentanglement",
        ),
        Recipe(
            "dsprites-betatcvae", "vae", "dsprites",
            "beta-TCVAE (beta 6) on dSprites, fast recipe (lr 1e-3 with cosine decay), the FactorVAE's 40k steps",
            (*_VAE, "--objective", "beta-tcvae", "--beta", "6", "--steps", "40000"),
            "disentanglement",
        ),
        Recipe(
            "dsprites-betavae", "vae", "dsprites",
            "beta-VAE (beta 4) on dSprites, fast recipe (lr 1e-3 with cosine decay), the FactorVAE's 40k steps",
            (*_VAE, "--objective", "beta-vae", "--beta", "4", "--steps", "40000"),
            "disentanglement",
        ),
        Recipe(
            "dsprites-ad-factorvae", "vae", "dsprites",
            "AD-FactorVAE (FactorVAE gamma 35 + attention disentanglement, lambda 40) on dSprites, the FactorVAE's "
            "fast recipe and 40k steps",
            (*_VAE, "--objective", "ad-factorvae", "--gamma", "35", "--ad-lambda", "40", "--disc-lr", "1e-4",
             "--steps", "40000"),
            "disentanglement",
        ),
        Recipe(
            "dsprites-gan", "gan", "dsprites",
            "DCGAN (width 16) with the R1 penalty (gamma 10) on dSprites, 64x64, latent 10",
            ("train", "gan", "--data", "dsprites", "--seed", "0", "--width", "16", "--steps", "10000"),
            "gan_shapes",
        ),
        Recipe(
            "dsprites-ddpm", "ddpm", "dsprites",
            "DDPM (U-Net, base 32, 4x4x64 h-space, only the stem's skip, P2 loss weight, linear schedule) on "
            "dSprites, 64x64; the h-space tools' model",
            ("train", "ddpm", "--data", "dsprites", "--seed", "0", "--steps", "8000", "--lr", "5e-4",
             "--lr-schedule", "cosine", "--warmup-steps", "500", "--p2-gamma", "1", "--skip-connections", "stem"),
            "ddpm_shapes",
        ),
        Recipe(
            "dsprites-factor-predictor", "classifier", "dsprites",
            "CNN reading the five dSprites factors off an image; the instrument of factor alignment",
            ("train", "factor-predictor", "--seed", "0"),
            "factor_predictor",
        ),
    )
}  # fmt: skip


BEST_VAE = "dsprites-factorvae"  # the zoo's best-disentangled dSprites VAE (the demo interprets it)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise LatentLensError(f"unknown zoo model {name!r} (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[name]
