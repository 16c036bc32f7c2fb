from flageval_notifier.models import metadata
from flageval_platform.migrations import run_env

run_env(metadata)
