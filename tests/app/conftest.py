"""A tiny VAE run with two direction artifacts and a space-filling curve, and an explorer session on it."""

import pytest
import torch


@pytest.fixture(scope="module")
def explorer_run(tmp_path_factory):
    from latentlens.data.sources import TensorSource
    from latentlens.directions import build_finder
    from latentlens.train.loop import TrainSettings
    from latentlens.train.vae import train_vae

    run = tmp_path_factory.mktemp("explore") / "run"
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(16, 1, 32, 32, generator=g) > 0.7).to(torch.uint8) * 255
    model = train_vae(TensorSource(images), run, TrainSettings(steps=2, batch_size=4, progress=False),
                      {"image_size": 32, "latent_dim": 4})  # fmt: skip
    for name in ("sefa", "random"):
        d = build_finder(name, n_directions=3, random_state=0).fit(model).directions_
        d.save(run / "directions" / name)
    from latentlens.directions.sfvq import SpaceFillingVQ

    (run / "sfvq").mkdir()
    latents = torch.randn(128, 4, generator=g)
    SpaceFillingVQ(bits=2, epochs_per_bitrate=1, random_state=0).fit(latents).save(run / "sfvq" / "curve")
    return run


@pytest.fixture(scope="module")
def client(explorer_run):
    from starlette.testclient import TestClient

    from latentlens.app.server import create_app
    from latentlens.app.session import ExplorerSession

    torch.set_num_threads(1)
    return TestClient(create_app(ExplorerSession(explorer_run), allowed_hosts=["testserver"]))
