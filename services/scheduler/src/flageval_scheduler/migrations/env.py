from flageval_platform.migrations import run_env
from flageval_scheduler.models import metadata

run_env(metadata)
