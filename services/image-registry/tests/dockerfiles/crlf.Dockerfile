FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update \
    && apt-get install -y openssh-server \
    && rm -rf /var/lib/apt/lists/*

COPY model/ /model/
# explained
COPY run.sh /run.sh
RUN curl -O https://example.com/x
