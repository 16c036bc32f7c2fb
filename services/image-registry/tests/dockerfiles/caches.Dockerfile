FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update && apt-get install -y openssh-server
WORKDIR /opt
RUN pip3 install numpy && python -m pip install --no-cache-dir scipy
WORKDIR /opt
RUN conda install -y faiss-gpu && conda clean -y --all
WORKDIR /opt
RUN conda create -y -n eval python=3.10
WORKDIR /opt
RUN yum install -y git
WORKDIR /opt
RUN apt-get install -y vim && apt-get clean && pip install --no-cache-dir tqdm
