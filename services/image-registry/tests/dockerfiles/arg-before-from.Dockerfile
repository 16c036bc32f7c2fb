ARG BASE_IMAGE=nvcr.io/nvidia/pytorch
ARG TAG=23.03-py3
FROM ${BASE_IMAGE}:${TAG}
ARG UNSET_BUILDER
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
