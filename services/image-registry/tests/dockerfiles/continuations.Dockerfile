FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update \
    # a comment line inside the continuation is dropped
    && apt-get install -y \

        openssh-server \
    && rm -rf /var/lib/apt/lists/* \
    && wget \
        https://example.com/weights.bin
ENV A=1 \
    NCCL_IB_DISABLE=1
RUN pip install --no-cache-dir numpy
