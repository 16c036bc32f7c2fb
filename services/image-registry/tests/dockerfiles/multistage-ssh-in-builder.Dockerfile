FROM nvcr.io/nvidia/pytorch:23.03-py3 AS builder
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*

FROM nvcr.io/nvidia/pytorch:23.03-py3
# Only the built wheel comes from the builder stage.
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl
