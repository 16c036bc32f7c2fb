# syntax=docker/dockerfile:1
# A Dockerfile that follows every platform rule.
FROM nvcr.io/nvidia/pytorch:23.03-py3

ENV PIP_NO_CACHE_DIR=1 \
    LANG=C.UTF-8

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        git \
        openssh-server \
    && mkdir -p /run/sshd \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir -i https://pypi.tuna.tsinghua.edu.cn/simple \
        accelerate==0.21.0 \
        transformers==4.31.0

# The model's evaluation entry point and its configuration (reviewed source, no binaries).
COPY eval/ /workspace/eval/
COPY configs/eval.yaml /workspace/configs/eval.yaml

WORKDIR /workspace
CMD ["python", "eval/run.py"]
