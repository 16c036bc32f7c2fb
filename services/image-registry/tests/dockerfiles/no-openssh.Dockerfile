FROM nvcr.io/nvidia/pytorch:23.03-py3
# openssh-client is not the server.
RUN apt-get update && apt-get install -y openssh-client && rm -rf /var/lib/apt/lists/*
