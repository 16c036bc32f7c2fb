from flageval_platform.migrations import run_env
from flageval_upload.models import metadata

run_env(metadata)
