FROM golang:1.21 AS build
RUN go build -o /out/tool ./cmd/tool

FROM nvcr.io/nvidia/pytorch:23.03-py3 AS runtime
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*

FROM runtime
COPY --from=build /out/tool /usr/local/bin/tool
COPY --from=0 /out/tool /usr/local/bin/tool2
CMD ["tool"]
