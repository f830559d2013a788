# Python 3.11 from Debian bookworm: stands in for python:3.11-slim-bookworm where no registry
# answers. `python` is Debian's python3 (python-is-python3); venv gives `python -m venv`.
ARG DEBIAN_IMAGE=zerog-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
