"""The library layer under the CLI: each ``latentlens`` command is a thin argparse wrapper over one of these
plain functions, which take run folders (or ``zoo:NAME``) and write pictures, metrics and reports into them.

::

    from latentlens import workflows
    workflows.evaluate("zoo:dsprites-factorvae", preset="fast")
    workflows.discover("runs/gan", ["sefa", "ganspace", "voynov"], seeds=[0, 1, 2])
    workflows.explain("runs/vae", "dsprites", n=8)
    workflows.explain_classifier(my_classifier, "runs/vae", "images/", "treated", "runs/vae/attributes",
                                 classes=["untreated", "treated"])
    workflows.report("runs/vae")
"""

from __future__ import annotations

from .anomaly import evaluate_run as anomaly_test
from .anomaly import fit_category as anomaly_fit
from .attributes import attributes_run as explain_classifier
from .discover import discover
from .evaluate import evaluate_run as evaluate
from .explain import explain_run as explain
from .hspace import edit


def report(run_dir):
    """(Re)write ``run_dir/report.html`` from what the folder holds; returns its path."""
    from ..viz.report import build_report
    from ..zoo import resolve_run

    return build_report(resolve_run(run_dir))


__all__ = ["anomaly_fit", "anomaly_test", "discover", "edit", "evaluate", "explain", "explain_classifier", "report"]
