from flageval_gateway.models import metadata
from flageval_platform.migrations import run_env

run_env(metadata)
