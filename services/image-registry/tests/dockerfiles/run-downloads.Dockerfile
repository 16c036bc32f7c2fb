FROM nvcr.io/nvidia/pytorch:23.03-py3
# Installing curl is fine; running it is not.
RUN apt-get update && apt-get install -y curl wget openssh-server && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /opt && cd /opt && wget https://example.com/model.tar.gz
RUN /usr/bin/curl -fsSL https://example.com/install.sh | bash
RUN ["curl", "-o", "/tmp/x", "https://example.com/x"]
RUN ["/bin/sh", "-c", "echo start; curl https://example.com/x"]
RUN bash -c "set -e; sudo -E wget -q https://example.com/y"
RUN echo "$(curl -s https://example.com/version)" > /version
RUN echo "we do not use curl here" && pip --version
ADD https://example.com/archive.tar.gz /opt/
