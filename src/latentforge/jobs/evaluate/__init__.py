"""Evaluation as a job: the loops that run a model over a dataset (the test loss, the importance-sampled
NLL, sample quality) and the feature extractors they need. The formulas live in :mod:`latentforge.metrics`."""

from .likelihood import SHARD_MOMENTS, importance_sampled_nll, merge_shards
from .loss import evaluate_model, evaluation_batches, evaluator
from .sample_quality import sample_quality

__all__ = ["SHARD_MOMENTS", "evaluate_model", "evaluation_batches", "evaluator", "importance_sampled_nll",
           "merge_shards", "sample_quality"]
