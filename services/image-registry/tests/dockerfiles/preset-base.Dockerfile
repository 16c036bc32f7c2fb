# The platform preset already contains openssh-server.
FROM flageval-nlp-ngc-pytorch2303:v1.0
RUN pip install --no-cache-dir tiktoken==0.5.1
