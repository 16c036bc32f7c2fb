FROM nvcr.io/nvidia/pytorch:23.03-py3 AS base
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# Our model code.
COPY src/ /workspace/src/
ADD scripts/ /workspace/scripts/
# A comment separated by a blank line does not explain the next instruction.

COPY data/ /workspace/data/
#
COPY weights/ /workspace/weights/
COPY --from=base /etc/hostname /tmp/hostname
COPY --from=python:3.11 /usr/local/bin/python3 /usr/local/bin/python3
COPY \
  # inline explanation inside the continuation
  tools/ /workspace/tools/
