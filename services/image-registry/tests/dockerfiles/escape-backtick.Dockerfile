# escape=`

FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update `
    && apt-get install -y openssh-server `
    && rm -rf /var/lib/apt/lists/*
# Windows-style paths keep their backslashes.
COPY C:\data\ C:\workspace\
RUN echo a `
    && curl https://example.com
