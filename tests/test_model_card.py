"""The model card `calhousing export` writes beside its ONNX file."""

from __future__ import annotations

import json

import pytest
import yaml

from calhousing.cli import main


def _export(pipeline_run, tmp_path, model: str) -> tuple[dict, str]:
    code = main(
        [
            "export",
            "--model",
            model,
            "-o",
            str(tmp_path / f"{model}.onnx"),
            "--artifacts-dir",
            str(pipeline_run["artifacts"]),
        ]
    )
    assert code == 0
    _, front, body = (tmp_path / "MODEL_CARD.md").read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(front), body


def test_quantized_card_is_a_hugging_face_card_of_a_quantized_model(pipeline_run, tmp_path):
    front, body = _export(pipeline_run, tmp_path, "quantized")
    assert (front["base_model"], front["base_model_relation"]) == ("calhousing-float", "quantized")
    assert front["library_name"] == "onnx"
    results = front["model-index"][0]["results"][0]
    assert results["dataset"]["split"] == "test"
    metrics = {metric["type"]: metric for metric in results["metrics"]}
    comparison = json.loads((pipeline_run["artifacts"] / "comparison.json").read_text())
    assert metrics["r2"]["value"] == pytest.approx(comparison["quantized"]["test"]["r2"], abs=1e-6)
    assert metrics["r2_loss"]["value"] == pytest.approx(0.00084, abs=1e-6)
    assert metrics["r2_loss"]["name"].endswith("95% interval -0.000899 to 0.002620")
    assert front["calhousing"]["budget"]["max_r2_loss"] == 0.001
    assert "| test R² | 0.5758 | 0.5749 | test R² lost: +0.0008 (-0.0009 to +0.0026) |" in body
    assert "| MedInc decile 7 | 427 | 0.6076 | 0.6222 | 0.0485 |" in body
    assert (
        "The smallest configuration whose training R² is within the budget of 0.001 of float's "
        "(among the sweep's per-tensor configurations) is **8-bit · asymmetric · raw · gptq**"
    ) in body
    assert body.startswith("\n# calhousing-quantized: quantized.onnx\n")


def test_integer_card_states_the_clamping_outside_the_training_range(pipeline_run, tmp_path):
    _, body = _export(pipeline_run, tmp_path, "integer")
    assert "the integer model clamps each feature to it before it scores a row (MedInc" in body
    assert "HouseAge 1..52" in body


def test_float_card_claims_no_quantized_base_model(pipeline_run, tmp_path):
    front, body = _export(pipeline_run, tmp_path, "float")
    assert "base_model_relation" not in front
    assert "quantized" not in front["tags"]
    assert "| test R² | 0.5758 | 0.5758 | — |" in body


def test_a_run_without_a_sweep_gets_a_card_that_says_it_has_no_choice(library_run, tmp_path):
    code = main(
        [
            "export",
            "--model",
            "integer",
            "-o",
            str(tmp_path / "m.onnx"),
            "--artifacts-dir",
            str(library_run),
        ]
    )
    assert code == 0
    card = (tmp_path / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "This run has no budgeted choice: 04_sweep has not run on its artifacts." in card
    assert "base_model_relation: quantized\n" in card
