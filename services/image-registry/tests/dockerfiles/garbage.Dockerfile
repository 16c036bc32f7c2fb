this is not a dockerfile
{"json": true}
FORM nvcr.io/nvidia/pytorch:23.03-py3
