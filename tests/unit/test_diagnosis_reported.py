"""The findings travel: the bundle's metrics.json and the CLI say what the app shows beside
the learning curves (``diagnosis_panel.render`` calls ``diagnose`` on the same values)."""

from __future__ import annotations

import json
from pathlib import Path

from layerlab.cli.main import main
from layerlab.model.export import write_bundle
from layerlab.report.diagnosis import diagnose

IRIS = str(Path(__file__).parents[2] / "data" / "iris.csv")


def shown_in_the_app(result):
    return diagnose(
        result.history,
        naive_val_loss=result.naive_val_loss,
        stop_reason=result.stop_reason,
        spec=result.spec,
    )


def test_metrics_json_carries_the_findings_the_app_shows(churn_result, churn_evaluation, tmp_path):
    bundle = write_bundle(churn_result, churn_evaluation, tmp_path / "bundle", explain=False)
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["diagnosis"] == [finding.to_dict() for finding in shown_in_the_app(churn_result)]


def test_training_prints_each_finding_after_the_verdict_as_metrics_json_has_it(tmp_path, capsys):
    out = tmp_path / "iris-model"
    argv = ["train", IRIS, "--target", "species", "--epochs", "300", "--patience", "1"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().err.splitlines()
    findings = json.loads((out / "metrics.json").read_text())["diagnosis"]
    assert [item["kind"] for item in findings][-1] == "early_stopping"
    # Training's message, the score, the verdict, the findings, where the bundle went.
    assert "training stopped early" in lines[0]
    assert lines[2].startswith(("The network beats ", "The network's accuracy is not better"))
    printed = lines[3:-1]
    assert [line.split(" Try: ")[0] for line in printed] == [f["sentence"] for f in findings]
    assert lines[-1].startswith(f"Bundle written to {out}/")
