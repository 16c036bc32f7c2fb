from flageval_platform.migrations import run_env
from flageval_scheduler.models import metadata
from flageval_scheduler.quota import models as _quota_models  # noqa: F401  (registers tables)

run_env(metadata)
