FROM nvcr.io/nvidia/pytorch:23.03-py3
ENV LANG=C.UTF-8 NVIDIA_VISIBLE_DEVICES=all
ENV HOSTNAME evalhost
ENV RANK=0 WORLD_SIZE=1
ENV MY_CUDA_PATH=/usr/local/cuda PATH=/usr/local/cuda/bin:$PATH
env CUDA_HOME /usr/local/cuda
ENV MASTER_ADDR="127.0.0.1" MASTER_PORT=29500 \
    NCCL_DEBUG=INFO
ENV KUBERNETES_SERVICE_HOST=x AIRS_JOB=y PADDLE_TRAINERS_NUM=1
ENV hostname=lowercase-is-a-different-variable
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
