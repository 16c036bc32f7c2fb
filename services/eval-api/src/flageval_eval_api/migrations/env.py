from flageval_eval_api.models import metadata
from flageval_platform.migrations import run_env

run_env(metadata)
