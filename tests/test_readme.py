"""The README's "Your own model" snippets run as written (with small stand-ins for the user's classes)."""

import re
import sys
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent / "adapters"))


def _snippets() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 2))

    def forward(self, x):
        return self.net(x)


def test_readme_own_model_snippets_run(tmp_path, monkeypatch):
    from user_models import AttrVAE, DCGANGenerator, seeded

    snippets = _snippets()
    assert len(snippets) == 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    torch.set_num_threads(1)
    namespace = {
        "DCGANGenerator": lambda **kw: seeded(DCGANGenerator(**kw)),
        "AttrVAE": lambda **kw: seeded(AttrVAE(**kw)),
        "Classifier": Classifier,
    }
    for code in snippets:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "out" / "sefa.safetensors").is_file() and (tmp_path / "out" / "sefa_sheet.png").is_file()
    assert (tmp_path / "out" / "vae" / "directions" / "metrics.json").is_file()
    assert namespace["probabilities"].shape == (8, 2)
    assert namespace["maps"].maps.shape == (8, 4, 32, 32)
