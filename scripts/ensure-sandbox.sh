#!/usr/bin/env bash
# The sandbox for uploaded code is bubblewrap (README "Security model"). Installed here when it
# is missing and this user may (root with apt-get); otherwise a warning: the platform still
# starts, and runs of uploaded bundles fail with a clear message until bwrap is there.
set -u
command -v bwrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap (the sandbox for uploaded code)" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }; } \
    && exit 0
fi
echo "warning: bubblewrap (bwrap) is not installed: runs of uploaded bundles will fail until it" \
  "is (apt-get install bubblewrap), or FLAGEVAL_SANDBOX=none is set (unconfined; not recommended)" >&2
exit 0
