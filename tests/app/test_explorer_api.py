"""Every explorer endpoint: status codes, content types, sizes, determinism, bounds, renames."""

import io
import json

import pytest
import torch
from PIL import Image


def _image(response):
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http" not in page.text.replace("http-equiv", "")  # no external resource
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert "://" not in response.text
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/static/secret.txt").status_code == 404


def test_meta_lists_the_latent_and_every_artifact(client):
    meta = client.get("/api/meta").json()
    assert meta["kind"] == "vae" and meta["latent_dim"] == 4 and meta["image_size"] == 32
    sets = {s["name"]: s for s in meta["sets"]}
    assert set(sets) == {"latent", "sefa", "random"}
    assert sets["latent"]["n"] == 4 and not sets["latent"]["renamable"]
    assert sets["sefa"]["n"] == 3 and sets["sefa"]["renamable"]
    assert meta["attention"] is True
    assert "/" not in json.dumps(meta["sets"])  # no file-system path reaches the client


def test_renders_are_pngs_of_the_right_size_and_deterministic(client):
    one = client.get("/api/render.png", params={"seed": 3, "index": 2})
    assert one.headers["content-type"] == "image/png" and _image(one).size == (32, 32)
    assert client.get("/api/render.png", params={"seed": 3, "index": 2}).content == one.content
    shifted = client.get("/api/render.png", params={"seed": 3, "index": 2, "shifts": "sefa:0:3,latent:1:-2"})
    assert _image(shifted).size == (32, 32) and shifted.content != one.content
    strip = client.get("/api/traversal.png", params={"set": "sefa", "k": 1, "steps": 7})
    assert _image(strip).size == (7 * 32, 32)
    gif = client.get("/api/traversal.gif", params={"set": "random", "k": 2, "steps": 5})
    assert gif.headers["content-type"] == "image/gif" and _image(gif).n_frames == 8  # there and back
    att = client.get("/api/attention.png", params={"set": "sefa", "k": 0})
    assert _image(att).size == (32, 32) and _image(att).mode == "RGB"


def test_the_curve_scrubber_draws_corners_and_the_lines_between_them(client, explorer_run):
    import torch

    from latentlens.app.session import ExplorerSession
    from latentlens.directions.sfvq import SpaceFillingVQ

    assert client.get("/api/meta").json()["curve"] == {"corners": 4, "bits": 2}
    ends = [_image(client.get("/api/curve.png", params={"position": p})) for p in (0, 3)]
    assert all(im.size == (32, 32) for im in ends) and ends[0].tobytes() != ends[1].tobytes()
    # a fractional position decodes the point on the line between two corners
    session = ExplorerSession(explorer_run)
    curve = SpaceFillingVQ.load(explorer_run / "sfvq" / "curve")
    middle = 0.5 * (curve.codebook_[1] + curve.codebook_[2])
    from latentlens.app.session import png_bytes

    with torch.inference_mode():
        expected = png_bytes(session.generator(middle[None]))
    assert client.get("/api/curve.png", params={"position": 1.5}).content == expected


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/render.png", {"seed": -1}), ("/api/render.png", {"seed": "x"}), ("/api/render.png", {"index": 999}),
        ("/api/render.png", {"shifts": "sefa:9:1"}), ("/api/render.png", {"shifts": "nope:0:1"}),
        ("/api/render.png", {"shifts": "sefa:0:inf"}), ("/api/render.png", {"shifts": "sefa:0:50"}),
        ("/api/render.png", {"shifts": "sefa:0"}), ("/api/render.png", {"shifts": ",".join(["sefa:0:1"] * 65)}),
        ("/api/render.png", {"source": "disk"}), ("/api/traversal.png", {"steps": 1000}),
        ("/api/traversal.png", {"range": "nan"}), ("/api/traversal.gif", {"k": -1}),
        ("/api/attention.png", {"set": "../../etc/passwd"}), ("/api/render.png", {"index": "1.5"}),
        ("/api/curve.png", {"position": -0.5}), ("/api/curve.png", {"position": 3.5}),
        ("/api/curve.png", {"position": "nan"}), ("/api/curve.png", {"position": "x"}),
    ],
)  # fmt: skip
def test_bad_parameters_are_400_with_a_message(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 400 and response.json()["error"]


def test_rename_is_saved_into_the_artifact_and_read_back(client, explorer_run):
    from latentlens.app.session import ExplorerSession
    from latentlens.directions import Directions

    done = client.post("/api/rename", json={"set": "sefa", "k": 1, "name": "size"})
    assert done.status_code == 200 and done.json() == {"set": "sefa", "k": 1, "name": "size"}
    assert Directions.load(explorer_run / "directions" / "sefa").names[1] == "size"
    labels = {s["name"]: s["labels"] for s in ExplorerSession(explorer_run).meta()["sets"]}
    assert labels["sefa"][1] == "size"
    for body in ({"set": "latent", "k": 0, "name": "x"}, {"set": "sefa", "k": 0, "name": ""},
                 {"set": "sefa", "k": 7, "name": "x"}, {"set": "sefa", "k": 0, "name": "a\nb"}, [1, 2]):  # fmt: skip
        assert client.post("/api/rename", json=body).status_code == 400
    assert client.post("/api/rename", content=b"not json", headers={"content-type": "application/json"}).status_code == 400


def test_explore_command_serves_on_loopback_and_prints_its_url(explorer_run):
    import os
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "latentlens.cli", "explore", "--run", str(explorer_run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("latentlens explorer: http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/meta", timeout=30) as response:
            assert json.loads(response.read())["latent_dim"] == 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_explore_refuses_a_missing_run(tmp_path, capsys):
    from latentlens.cli import main

    assert main(["explore", "--run", str(tmp_path / "absent")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_explore_refuses_zero_threads(explorer_run, capsys):
    from latentlens.cli import main

    assert main(["explore", "--run", str(explorer_run), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_a_latentlens_model_renders_channels_last_with_the_same_images(explorer_run):
    from latentlens.app.session import ExplorerSession
    from latentlens.workflows._runs import open_model

    session = ExplorerSession(explorer_run)
    conv = next(m for m in session.model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    plain = open_model(explorer_run, None, torch.device("cpu"))[2]
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(session.generator(z), plain.decode(z), atol=1e-5, rtol=1e-4)


def test_writes_from_other_sites_and_foreign_hosts_are_refused(client, explorer_run):
    from starlette.testclient import TestClient

    from latentlens.app.server import create_app
    from latentlens.app.session import ExplorerSession

    body = '{"set": "sefa", "k": 0, "name": "evil"}'
    assert client.post("/api/rename", content=body, headers={"content-type": "text/plain"}).status_code == 415
    assert client.post("/api/rename", content=body, headers={"content-type": "application/json",
                                                              "origin": "http://evil.example"}).status_code == 403  # fmt: skip
    rebinding = TestClient(create_app(ExplorerSession(explorer_run)), base_url="http://evil.example")
    assert rebinding.get("/api/meta").status_code == 400
    loopback = TestClient(create_app(ExplorerSession(explorer_run)), base_url="http://127.0.0.1:8123")
    assert loopback.get("/api/meta").status_code == 200


@pytest.mark.parametrize("name", ["dsprites-factorvae", "dsprites-gan"])
def test_the_explorer_opens_the_zoo_vae_and_gan(name):
    from latentlens import zoo
    from latentlens.app.session import ExplorerSession

    if name not in zoo.available():
        pytest.skip(f"{name} is not shipped in this checkout")
    session = ExplorerSession(f"zoo:{name}")
    meta = session.meta()
    assert meta["kind"] == ("vae" if name.endswith("vae") else "generator") and meta["latent_dim"] == 10
    assert meta["model_card"]["name"] == name
    image = Image.open(io.BytesIO(session.render(seed=0, index=1)))
    assert image.size == (64, 64)
    strip = Image.open(io.BytesIO(session.traversal(seed=0, index=1, set_name="latent", k=3, steps=5)))
    assert strip.size == (5 * 64, 64)
