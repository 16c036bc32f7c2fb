# Someone put the maintainer first.
MAINTAINER someone@example.com
FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
