"""FlagEval runner: the harness that runs inside one evaluation job.

It reports to the platform over HTTP with a per-run token and never gets database or broker
credentials. The harness itself (protocols, datasets, metrics) lands with the NLP harness work.
"""
