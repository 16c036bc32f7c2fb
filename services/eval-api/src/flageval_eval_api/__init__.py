"""FlagEval eval-api service: Evaluations (all five domains), runs, per-dataset progress and metrics, validation samples, dataset catalog."""
