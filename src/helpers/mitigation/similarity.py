"""Where admissions sit relative to each other: the space that augmentation and clustering measure distance in.

Two descriptions of an admission are available on every data source, simulated or real:

- **the note embedding**: the [CLS] vector of the global ClinicLLM's last encoder layer
  (:func:`helpers.clinicllm.embedding_stage`, computed once for every admission and cached). It is what the
  classification head reads, so two admissions close in it are close *for the model*: same template, same
  vocabulary, similar content. Vectors are scaled to unit length, so distance is cosine distance.
- **the patient factors**: age, Charlson-like comorbidity index, length of stay, words per note, sex and insurance
  (and borough where the data have it), numeric factors standardised on the training admissions, categories one-hot.
  These are the candidate explanations of chapter 4, and never include the hospital itself.

``space`` chooses ``"embedding"``, ``"factors"`` or ``"both"`` (the two blocks side by side, each scaled so that it
contributes about equally to a distance). Hidden simulator facts are never used, so the same code runs on real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

SPACES = ("embedding", "factors", "both")
NUMERIC_FACTORS = ("age", "comorbidity_index", "length_of_stay", "words_per_note")
CATEGORICAL_FACTORS = ("sex", "insurance", "borough")


def check_space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"parameter 'similarity_space' is {space!r}; choose one of {list(SPACES)}.")
    return space


def factor_matrix(data: pd.DataFrame, reference: pd.Series | None = None) -> pd.DataFrame:
    """Standardised patient factors, one row per admission of ``data`` (same index), no hospital column.

    ``reference`` (a boolean mask over ``data``) marks the rows whose mean and standard deviation standardise the
    numeric factors and whose median fills their missing values: the training admissions, so that no statistic of
    a validation or test admission enters. Factors absent from the data (e.g. borough) are skipped.
    """
    reference = pd.Series(True, index=data.index) if reference is None else reference.reindex(data.index)
    numeric = [c for c in NUMERIC_FACTORS if c in data.columns]
    categorical = [c for c in CATEGORICAL_FACTORS if c in data.columns]
    if not numeric and not categorical:
        raise ValueError(
            f"the study frame has none of the patient factors {list(NUMERIC_FACTORS + CATEGORICAL_FACTORS)}; "
            "use similarity_space='embedding' or supply those columns."
        )
    parts = []
    for column in numeric:
        values = pd.to_numeric(data[column], errors="coerce").astype(float)
        ref = values[reference.to_numpy()]
        values = values.fillna(ref.median() if ref.notna().any() else 0.0)
        sd = ref.std()
        parts.append(((values - ref.mean()) / (sd if sd and np.isfinite(sd) else 1.0)).rename(column))
    for column in categorical:
        labels = data[column].astype(str).where(data[column].notna(), "missing")
        parts.append(pd.get_dummies(labels, prefix=column, dtype=float))
    return pd.concat(parts, axis=1)


def embedding_matrix(data: pd.DataFrame, embeddings: pd.DataFrame) -> pd.DataFrame:
    """Unit-length note embeddings in ``data``'s row order (``embeddings`` has admission_id and e0..e{d-1})."""
    columns = [c for c in embeddings.columns if c != "admission_id"]
    table = embeddings.set_index("admission_id").reindex(data["admission_id"])
    if table[columns].isna().any(axis=None):
        missing = table.index[table[columns].isna().any(axis=1)][:5].tolist()
        raise ValueError(f"no note embedding for admission(s) {missing}; recompute the embedding stage on the "
                         "whole study frame.")
    vectors = table[columns].to_numpy(dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    return pd.DataFrame(vectors, index=data.index, columns=columns)


def representation(data: pd.DataFrame, space: str, embeddings: pd.DataFrame | None = None) -> pd.DataFrame:
    """The vectors distances are measured in, one row per admission of ``data`` (same index).

    In ``"both"`` each block is divided by the square root of its typical squared length (1 for unit embeddings,
    the number of columns for standardised factors), so neither block dominates a distance by its width alone.
    """
    check_space(space)
    blocks = []
    if space in ("embedding", "both"):
        if embeddings is None:
            raise ValueError(f"similarity_space {space!r} needs the note embeddings; pass embeddings=...")
        blocks.append(embedding_matrix(data, embeddings).add_prefix("emb_"))
    if space in ("factors", "both"):
        factors = factor_matrix(data, data["split"].eq("train"))
        if space == "both":
            factors = factors / np.sqrt(factors.shape[1])
        blocks.append(factors.add_prefix("fac_"))
    return pd.concat(blocks, axis=1)


def most_similar_from_other_hospitals(data: pd.DataFrame, vectors: pd.DataFrame, hospital: str,
                                      k: int) -> pd.DataFrame:
    """The ``k`` training admissions of the *other* hospitals closest to ``hospital``'s training admissions.

    Each candidate (a training admission of another hospital) is scored by its distance to the nearest training
    admission of ``hospital``: an instance-based rule, so that a specialty hospital's surgical admissions pull in
    surgical admissions from elsewhere rather than whatever lies near the hospital's average. Ties are broken by
    row order. Validation and test admissions are never candidates. Returns the chosen rows of ``data`` with
    ``distance`` (ascending) and ``source_hospital``.
    """
    if int(k) != k or k < 0:
        raise ValueError(f"parameter 'augmentation_k' is {k!r}; give a non-negative whole number of admissions.")
    train = data["split"].eq("train")
    target = train & data["hospital"].eq(hospital)
    candidates = train & data["hospital"].ne(hospital)
    if not target.any():
        raise ValueError(f"hospital {hospital!r} has no training admissions to find neighbours for.")
    if k == 0 or not candidates.any():
        return data.iloc[0:0].assign(distance=pd.Series(dtype=float), source_hospital=pd.Series(dtype=object))
    finder = NearestNeighbors(n_neighbors=1).fit(vectors.loc[target].to_numpy())
    distance, _ = finder.kneighbors(vectors.loc[candidates].to_numpy())
    pool = data.loc[candidates].assign(distance=distance[:, 0], _order=np.arange(int(candidates.sum())))
    chosen = pool.sort_values(["distance", "_order"], kind="stable").head(int(k)).drop(columns="_order")
    return chosen.assign(source_hospital=chosen["hospital"])
