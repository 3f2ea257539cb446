# The operator image: `make image` (IMAGE=rocketmq-operator:dev). Runs as uid 65532 on a read-only root
# filesystem; the Deployment in manifests/operator mounts an emptyDir on /tmp.
ARG PYTHON_IMAGE=python:3.11-slim

# -- build: the operator's wheel, installed with the pinned runtime dependencies into a virtualenv -------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/rocketmq-operator
WORKDIR /src
COPY requirements.lock ./
RUN /opt/rocketmq-operator/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml setup.cfg README.md ./
COPY rocketmq_operator ./rocketmq_operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && /opt/rocketmq-operator/bin/pip install --no-cache-dir --no-deps /wheels/*.whl \
 && /opt/rocketmq-operator/bin/pip check \
 && /opt/rocketmq-operator/bin/pip uninstall -y -q pip setuptools

# -- runtime: the virtualenv on a clean base, no build tools, non-root ----------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rocketmq-operator" \
      org.opencontainers.image.description="Kubernetes operator for Apache RocketMQ" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 65532 rocketmq-operator \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin rocketmq-operator
COPY --from=build /opt/rocketmq-operator /opt/rocketmq-operator
# Nothing is written at run time: no .pyc files, no home directory, logs go to stdout.
ENV PATH=/opt/rocketmq-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    LOG_FORMAT=json
USER 65532:65532
WORKDIR /tmp
EXPOSE 8383
ENTRYPOINT ["rocketmq-operator", "run"]
