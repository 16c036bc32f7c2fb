from nvcr.io/nvidia/pytorch:23.03-py3 as base
run apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
copy app/ /app/
Env NVIDIA_DRIVER_CAPABILITIES=all
RuN pip install --no-cache-dir numpy && Curl -O https://example.com
