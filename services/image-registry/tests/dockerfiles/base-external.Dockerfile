FROM ubuntu:22.04
RUN apt-get update && apt-get install -y openssh-server python3 && apt-get clean
