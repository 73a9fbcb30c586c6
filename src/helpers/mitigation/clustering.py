"""Clusters of training admissions for cluster-based fine-tuning, their make-up and quality, and routing.

k-means on the training admissions' vectors (:mod:`helpers.mitigation.similarity`) groups admissions that look
alike, whichever hospital they come from. Each cluster then gets its own model, and every validation and test
admission is routed to the cluster of its nearest centroid: exactly one model scores it. Quality is reported two
ways: the silhouette (how well separated the clusters are, -1 to 1, computed on a seeded sample of at most
``silhouette_sample`` admissions to keep it cheap) and the adjusted Rand index between clusters and hospitals (0 =
clusters ignore hospitals, 1 = clusters are the hospitals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score


@dataclass
class Clustering:
    """A k-means fit on the training admissions and the cluster of every admission of the study frame."""

    assignment: pd.Series
    """Cluster label ("cluster 1" ...) for every row of the study frame (same index)."""
    silhouette: float
    adjusted_rand_vs_hospital: float
    n_clusters: int

    def labels(self) -> list[str]:
        return [f"cluster {i + 1}" for i in range(self.n_clusters)]


def fit_clusters(data: pd.DataFrame, vectors: pd.DataFrame, n_clusters: int, seed: int = 0,
                 silhouette_sample: int = 4000) -> Clustering:
    """k-means with ``n_clusters`` on the training rows of ``data``; every row (any split) routed to one cluster."""
    if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or n_clusters < 2:
        raise ValueError(f"parameter 'n_clusters' is {n_clusters!r}; give a whole number of at least 2 "
                         "(one cluster would be the global model again).")
    train = data["split"].eq("train").to_numpy()
    if train.sum() < n_clusters:
        raise ValueError(f"n_clusters ({n_clusters}) exceeds the {int(train.sum())} training admissions; "
                         "lower n_clusters.")
    x = vectors.to_numpy(dtype=np.float64)
    model = KMeans(n_clusters=int(n_clusters), n_init=4, random_state=seed).fit(x[train])
    codes = model.predict(x)
    train_codes = codes[train]
    n_used = len(np.unique(train_codes))
    silhouette = float("nan")
    if 1 < n_used < train.sum():
        silhouette = float(silhouette_score(x[train], train_codes, sample_size=min(silhouette_sample,
                                            int(train.sum())), random_state=seed))
    ari = float(adjusted_rand_score(data.loc[train, "hospital"].astype(str), train_codes))
    assignment = pd.Series([f"cluster {c + 1}" for c in codes], index=data.index, name="cluster")
    return Clustering(assignment, silhouette, ari, int(n_clusters))


OTHER_SITES = "other sites"
"""The column that pools the hospitals beyond the largest ones in :func:`cluster_makeup`."""


def cluster_makeup(data: pd.DataFrame, clustering: Clustering, max_hospitals: int = 8) -> pd.DataFrame:
    """Training admissions per cluster and hospital, with each hospital's share of the cluster (%).

    With more than ``max_hospitals`` hospitals (an export of many sites), the largest ``max_hospitals - 1`` by
    training admissions keep their columns and the rest are pooled into :data:`OTHER_SITES`, so that the table and
    the figure stay readable."""
    train = data["split"].eq("train")
    counts = pd.crosstab(clustering.assignment[train], data.loc[train, "hospital"].astype(str))
    counts = counts.reindex(clustering.labels(), fill_value=0)
    if counts.shape[1] > max_hospitals:
        order = counts.sum(axis=0).sort_index().sort_values(ascending=False, kind="stable").index
        kept = list(order[:max_hospitals - 1])
        counts = counts[kept].assign(**{OTHER_SITES: counts.drop(columns=kept).sum(axis=1)})
    shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0) * 100
    readmitted = (data.loc[train, "readmitted_30d"].groupby(clustering.assignment[train]).mean()
                  .reindex(counts.index) * 100).round(1)
    # built in one piece: inserting one column per hospital fragments the frame and warns on many sites
    table = pd.concat([counts.sum(axis=1).rename("training admissions"), readmitted.rename("readmitted (%)"),
                       counts.rename(columns=lambda h: f"{h} (n)"),
                       shares.round(1).rename(columns=lambda h: f"{h} (%)")], axis=1)
    table.index.name = "cluster"
    return table
