# syntax=docker/dockerfile:1.4
FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN <<EOF
apt-get update
apt-get install -y openssh-server
rm -rf /var/lib/apt/lists/*
EOF
COPY <<-CONF /etc/app.conf
	# not a Dockerfile comment, and FROM here is content
	FROM = nothing
	CONF
RUN python3 <<'PY'
print("curl is only a word here")
PY
RUN <<SCRIPT bash
set -e
curl -fsSL https://example.com/get.sh -o /tmp/get.sh
SCRIPT
ENV NCCL_DEBUG=INFO
