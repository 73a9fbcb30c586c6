"""A model card for the run's fine-tuned ClinicLLM, in the Hugging Face format, built from ``metrics.csv``.

The card is the ``README.md`` that the Hugging Face Hub reads beside a model: YAML metadata (language, licence,
tags, metrics, and ``model-index`` evaluation results) followed by Markdown sections. It is written with
``huggingface_hub.ModelCard`` / ``ModelCardData`` into the fine-tuned model's folder (so the folder is a complete
Hub model) and into ``artifacts/06_summary/model_card/README.md``, which the book's model-card page shows.

Every number comes from the run: the configuration from chapter 2's ``clinicllm/summary.json``, the evaluation from
the rows of ``metrics.csv`` (chapter 2's overall rows, chapter 3's per hospital and group; the one number per
quantity the chapters show). On real data the card obeys the book's privacy rule: a group with fewer than 11
admissions, readmissions or non-readmitted admissions is listed as suppressed, never with its counts or AUROC.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import evaluation, privacy

CARD_DIR = Path("model_card")
CARD_NAME = "README.md"
CARD_WRITER = "06_summary"  # the notebook that writes the card: its folder holds it
TEST_TITLES = {"random_test": "random test", "temporal_test": "temporal test"}
METRIC_TITLES = {"auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier score"}
GROUP_TITLES = {"overall": "whole test", "hospital": "hospital", "insurance": "insurance", "age_group": "age group",
                "comorbidity_level": "comorbidity level", "borough": "borough"}
SUPPRESSED = f"suppressed (fewer than {privacy.THRESHOLD} admissions or events)"


def evaluation_table(rows: pd.DataFrame, *, real_data: bool) -> pd.DataFrame:
    """ClinicLLM's test AUROC overall (chapter 2) and per hospital and patient group (chapter 3), both tests.

    Columns: test, grouping, group, admissions, readmissions, AUROC (95 % CI). On real data a small group's row
    keeps its name and says it is suppressed.
    """
    overall = rows[(rows["notebook"] == "02_clinicllm") & (rows["group_var"] == "overall")]
    groups = rows[(rows["notebook"] == "03_disparities") & rows["group_var"].isin(list(GROUP_TITLES))
                  & (rows["group_var"] != "overall")]
    part = pd.concat([overall, groups], ignore_index=True)
    part = part[(part["experiment"] == "global") & (part["metric"] == "auroc")
                & part["split"].isin(list(TEST_TITLES))]
    records = []
    for row in part.to_dict("records"):
        hidden = real_data and privacy.share_hidden(int(row["n_pos"]), int(row["n"]))
        records.append({
            "test": TEST_TITLES[row["split"]], "grouping": GROUP_TITLES[row["group_var"]], "group": row["group"],
            "admissions": SUPPRESSED if hidden else f"{int(row['n']):,}",
            "readmissions": "-" if hidden else f"{int(row['n_pos']):,}",
            "AUROC [95 % CI]": ("-" if hidden else evaluation.format_estimate(row["value"], row["ci_low"],
                                                                                 row["ci_high"])
                                if np.isfinite(row["value"]) else f"not estimable ({row['note']})"),
        })
    return pd.DataFrame(records, columns=["test", "grouping", "group", "admissions", "readmissions",
                                          "AUROC [95 % CI]"])


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(str(v).replace("|", "/") for v in record) + " |" for record in table.to_numpy()]
    return "\n".join([header, rule, *body])


def _eval_results(rows: pd.DataFrame, dataset: str) -> list:
    from huggingface_hub import EvalResult

    results = []
    for row in rows[(rows["notebook"] == "02_clinicllm") & (rows["group_var"] == "overall")
                    & (rows["experiment"] == "global") & rows["metric"].isin(["auroc", "auprc", "brier"])
                    & rows["split"].isin(list(TEST_TITLES))].to_dict("records"):
        if not np.isfinite(row["value"]):
            continue
        results.append(EvalResult(task_type="text-classification", dataset_type="clinical-notes",
                                  dataset_name=dataset, dataset_split=row["split"], metric_type=row["metric"],
                                  metric_name=f"{METRIC_TITLES[row['metric']]} ({TEST_TITLES[row['split']]})",
                                  metric_value=round(float(row["value"]), 4)))
    return results


def build_model_card(rows: pd.DataFrame, summary: dict, *, real_data: bool, source: str,
                     warning: str | None = None):
    """The ``huggingface_hub.ModelCard`` of the run's ClinicLLM (see the module docstring)."""
    from huggingface_hub import ModelCard, ModelCardData

    config = summary.get("config", {})
    dataset = "simulated health system (clinicllm-study)" if not real_data else source
    data = ModelCardData(language="en", license="mit", library_name="transformers",
                         pipeline_tag="text-classification", model_name="ClinicLLM (global, this run)",
                         tags=["clinical", "readmission", "bert", "clinicllm-study"],
                         eval_results=_eval_results(rows, dataset) or None)
    table = evaluation_table(rows, real_data=real_data)
    settings = ", ".join(f"{key} {config[key]}" for key in ("preset", "num_layers", "hidden_size", "max_length",
                                                            "vocab_size", "note_reading", "classifier_input",
                                                            "finetune_learning_rate", "seed") if key in config)
    learning = summary.get("learning_check", {})
    checked = (f"validation AUROC {evaluation.format_estimate(learning.get('validation_auroc', np.nan), learning.get('auroc_ci_low', np.nan), learning.get('auroc_ci_high', np.nan))}"
               if learning else "not recorded")
    warning_text = (f"**Warning: {warning}.** Read every figure below as that of a weak model." if warning
                    else "Chapter 2's checks found no learning problem: the model ranks validation admissions "
                         "better than chance and is within 0.1 AUROC of the TF-IDF baseline.")
    data_text = ("A simulated health system generated by this project (four hospitals, discharge notes written "
                 "from each admission's facts); no real patient's data." if not real_data else
                 f"The user's own data ({source}); counts under {privacy.THRESHOLD} are suppressed here.")
    body = f"""
# ClinicLLM (global), fine-tuned in this run

A BERT model pretrained with masked-language modelling on the training notes and fine-tuned on the pooled
hospitals' discharge notes to predict 30-day all-cause readmission: the "global" model of the ClinicLLM
generalization study, which reproduces Rahman et al. 2024 (arXiv 2402.10965) following the NYUTron recipe.

## Learning check

{warning_text}

## Model details

- Architecture and settings: {settings}.
- Selected on validation AUROC: {checked}.
- Files: this folder holds the weights (`model.safetensors`), the configuration and the tokenizer.

## Training data

{data_text} Training, validation and the random test are disjoint sets of patients from the years before the
temporal-test year; the temporal test is every admission of that year.

## Intended use

Research and teaching: to study how a clinical language model generalizes across hospitals and patient groups,
and to re-run that study on other data. **Not for clinical use**: the model is small, trained on
{'simulated' if not real_data else 'one dataset of'} notes, and has not been evaluated prospectively.

## Evaluation

AUROC with 95 % patient-level bootstrap intervals, on the random and the temporal test, overall and per hospital
and patient group (the numbers of chapters 2 and 3 of the study's book).

{_markdown_table(table)}

## Limitations

- Performance differs by hospital and patient group (the table above); small groups have wide intervals.
- The temporal test shows how the model copes with a later year; drift beyond it is unknown.
- Part of readmission risk is never written in a note, so no note-reading model can reach the oracle.
"""
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body)


def write_model_card(run_dir: str | os.PathLike, rows: pd.DataFrame, *, real_data: bool, source: str,
                     warning: str | None = None) -> Path:
    """Write the card beside the fine-tuned model and into chapter 6's ``model_card/``; returns the latter's path."""
    from helpers.artifacts import RunPaths

    run_dir = Path(run_dir)
    summary_path = RunPaths.from_run_dir(run_dir).written_by("02_clinicllm") / "clinicllm" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    card = build_model_card(rows, summary, real_data=real_data, source=source, warning=warning)
    from helpers.artifacts import atomic_write

    target = RunPaths.from_run_dir(run_dir, notebook=CARD_WRITER).artifact(f"{CARD_DIR}/{CARD_NAME}")
    atomic_write(target, lambda tmp: card.save(tmp))
    model_dir = Path(summary.get("model_dir", ""))
    for candidate in (model_dir, run_dir.parent.parent / model_dir):
        if summary.get("model_dir") and candidate.is_dir():
            atomic_write(candidate / CARD_NAME, lambda tmp: card.save(tmp))
            break
    return target


def read_model_card(run_dir: str | os.PathLike) -> str | None:
    """The card's text as written by the run, or None when chapter 6 has not written it."""
    from helpers.artifacts import RunPaths

    path = RunPaths.from_run_dir(run_dir).written_by(CARD_WRITER) / CARD_DIR / CARD_NAME
    return path.read_text() if path.exists() else None
