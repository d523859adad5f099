"""Synthetic cells: planted phenotypes move what one measures, files and factor table agree, seeds repeat."""

import csv

import numpy as np
import pytest

from latentlens.cli import main
from latentlens.data.cells import cell_elongation, nucleus_area, render_cell, sample_factors
from latentlens.errors import LatentLensError


def _base():
    f = {k: float(v[0]) for k, v in sample_factors(1, {}, np.random.default_rng(0)).items()}
    f.update(x=0.0, y=0.0, rotation=0.3, brightness=0.9, cell_size=0.3, noise=0.0, puncta=0.0, ring=0.0)
    return f


def test_planted_factors_move_the_measured_statistics_monotonically():
    areas = [nucleus_area(render_cell({**_base(), "nucleus_size": s, "elongation": 0.15})) for s in (0.2, 0.3, 0.4, 0.5)]
    assert all(a < b for a, b in zip(areas, areas[1:]))
    elong = [cell_elongation(render_cell({**_base(), "nucleus_size": 0.35, "elongation": e})) for e in (0.0, 0.2, 0.4, 0.6)]
    assert all(a < b for a, b in zip(elong, elong[1:]))
    bright = [nucleus_area(render_cell({**_base(), "nucleus_size": 0.35, "brightness": b})) for b in (0.6, 0.8, 1.0)]
    assert max(bright) - min(bright) < 0.2 * (areas[-1] - areas[0])  # brightness is a nuisance for this statistic


def test_cells_cli_writes_condition_folders_and_a_matching_factor_table(tmp_path):
    out = tmp_path / "cells"
    assert main(["data", "cells", "--out", str(out), "--n", "6", "--rgb", "--image-size", "32"]) == 0
    rows = list(csv.DictReader(open(out / "factors.csv")))
    assert len(rows) == 12 and {r["condition"] for r in rows} == {"control", "treated"}
    assert all((out / r["file"]).is_file() for r in rows)
    control = np.mean([float(r["nucleus_size"]) for r in rows if r["condition"] == "control"])
    treated = np.mean([float(r["nucleus_size"]) for r in rows if r["condition"] == "treated"])
    assert treated > control + 0.08
    again = tmp_path / "again"
    assert main(["data", "cells", "--out", str(again), "--n", "6", "--rgb", "--image-size", "32"]) == 0
    assert (again / "treated" / "cell_00003.png").read_bytes() == (out / "treated" / "cell_00003.png").read_bytes()


@pytest.mark.parametrize("argv", [["--phenotypes", "size"], ["--conditions", "a"], ["--conditions", "a,a"]])
def test_bad_cell_options(tmp_path, capsys, argv):
    assert main(["data", "cells", "--out", str(tmp_path / "x"), "--n", "2", *argv]) == 2
    assert capsys.readouterr().err.startswith("latentlens: error:")


def test_a_graded_response_decouples_the_phenotypes_and_keeps_their_mean_shift(tmp_path):
    from latentlens.data.cells import generate_cells

    def table(response):
        folder = generate_cells(tmp_path / response, n_per_condition=300, size=16, seed=0, response=response)
        with open(folder / "factors.csv", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["condition"] == "treated"]
        return np.array([[float(r["nucleus_size"]), float(r["elongation"])] for r in rows])

    every, graded = table("all"), table("graded")
    assert abs(graded.mean(0) - every.mean(0)).max() < 0.03  # the same shift on average
    assert (graded.std(0) > 2 * every.std(0)).all()  # but each cell its own share of it
    assert abs(np.corrcoef(graded.T)[0, 1]) < 0.15
    with pytest.raises(LatentLensError, match="response"):
        generate_cells(tmp_path / "bad", n_per_condition=2, size=16, response="some")
