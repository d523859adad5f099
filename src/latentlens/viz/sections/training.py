"""Report section: what was trained, on what, and how the losses went."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json, read_jsonl
from ..html import escape, figure, pyplot, table

ORDER = 10
TITLE = "Training"


def render(run_dir: Path) -> str | None:
    if not (run_dir / "config.json").exists():
        return None
    config = read_json(run_dir / "config.json")
    if "train" not in config:
        return None
    train, objective = config["train"], config.get("objective", {})
    summary = read_json(run_dir / "train_summary.json") if (run_dir / "train_summary.json").exists() else {}
    records = read_jsonl(run_dir / "log.jsonl")
    rows = [
        ["model", f"{config['kind']}: " + _pairs(config["model"])],
        ["objective", f"{objective.get('name', '-')} " + _pairs(objective.get("hparams", {}))],
        ["data", train.get("data")],
        *([["classifier term", f"{config['classifier']['cls_weight']} × KL(C(x) || C(x̂)), classifier "
                               f"{config['classifier'].get('run') or 'given in Python'}"]] if config.get("classifier") else []),
        ["steps × batch", f"{summary.get('steps', train.get('steps'))} × {train.get('batch_size')}"],
        ["learning rate, seed", f"{train.get('lr')}, {train.get('seed')}"],
        ["processes", train.get("world_size", 1)],
    ]
    if summary:
        rows.append(["wall time", f"{summary.get('seconds', 0):.0f} s"])
    if records:
        rates = [r["images_per_s"] for r in records if "images_per_s" in r]
        if rates:
            rows.append(["throughput (median)", f"{sorted(rates)[len(rates) // 2]:.0f} images/s"])
    provenance = read_json(run_dir / "provenance.json") if (run_dir / "provenance.json").exists() else None
    if provenance:
        machine = provenance.get("machine", {})
        rows.insert(0, ["zoo model", f"{provenance.get('name')}: {provenance.get('description', '')}"])
        rows.append(["reproduce with", provenance.get("command", "-")])
        rows.append(["trained on", f"{machine.get('device', '?')}, {machine.get('cpu_count', '?')} cores, "
                                   f"{machine.get('torch', '')}; commit {str(provenance.get('commit', '?'))[:12]}"])
    parts = [table(["setting", "value"], rows)]
    if records:
        parts.append(_curve(records, config["kind"], run_dir))
    if summary.get("kl_per_dim") or any("kl_per_dim" in r for r in records):
        parts.append(_latent_usage(summary, records, run_dir))
    return "".join(parts)


def _latent_usage(summary: dict, records: list[dict], run_dir: Path) -> str:
    """KL per latent dimension at the end of training, with the collapse warning when most are unused."""
    from ...train.vae import COLLAPSE_NATS, latent_usage

    usage = summary if summary.get("kl_per_dim") else latent_usage(records)
    kl = usage["kl_per_dim"]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * len(kl) + 1), 2.4))
    colours = ["#2a6fb0" if v >= COLLAPSE_NATS else "#c0c6cc" for v in kl]
    ax.bar(range(len(kl)), kl, color=colours)
    ax.axhline(COLLAPSE_NATS, color="#b0413e", lw=0.8, ls="--")
    ax.set_xticks(range(len(kl)), [f"z{j}" for j in range(len(kl))])
    ax.set_ylabel("KL (nats)")
    ax.set_title("information per latent dimension")
    fig.tight_layout()
    warning = usage.get("collapsed_warning")
    note = f'<p class="error">{escape(warning)}</p>' if warning else ""
    caption = (f"KL divergence of each latent dimension's posterior from the prior, averaged over the last logged "
               f"steps. Grey bars (below {COLLAPSE_NATS} nats, dashed line) are dimensions the model does not use.")
    return (note + "<figure>" + figure(fig, "KL per latent dimension", save_to=run_dir / "figures" / "kl_per_dim.png")
            + f"<figcaption>{caption}</figcaption></figure>")  # fmt: skip


def _pairs(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


CAPTIONS = {
    "vae": "Loss terms per logged step (rec: reconstruction NLL per image; kl: KL to the prior; "
    "tc: total-correlation estimate).",
    "ddpm": "Noise-prediction loss ||eps - eps_theta(x_t, t)||^2 per logged step (Ho et al. 2020, Eq. 14), at "
    "random timesteps, so it is noisy; the saved model is the moving average of the weights.",
    "classifier": "Cross-entropy per logged step and held-out accuracy.",
    "gan": "Generator and discriminator losses per logged step (non-saturating GAN loss; d_loss includes the "
    "R1 penalty). Balanced values mean neither network has won; d_loss near 0 means the GAN collapsed.",
}


CURVE_KEYS = {"vae": ["rec", "kl", "tc", "disc_loss"], "gan": ["g_loss", "d_loss", "r1"], "ddpm": ["loss"],
              "classifier": ["loss", "val_accuracy"]}  # fmt: skip


def _curve(records: list[dict], kind: str, run_dir: Path) -> str:
    plt = pyplot()
    keys = CURVE_KEYS.get(kind, ["loss"])
    keys = [k for k in keys if any(k in r for r in records)]
    if not keys:
        return ""
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        points = [(r["step"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#2a6fb0")
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return (
        "<figure>"
        + figure(fig, "training curves", save_to=run_dir / "figures" / "training_curves.png")
        + f"<figcaption>{CAPTIONS.get(kind, 'Loss per logged step.')}</figcaption></figure>"
    )
