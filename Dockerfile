# One image for every aismesh service: etcd, the metadata service, storage nodes and the
# gateway (the compose file's `command:` picks which). Works with the classic builder and
# BuildKit.
#
#   docker build -t aismesh:dev .
#       on the usual Python image, dependencies from the package index
#   docker build --build-arg BASE=aismesh/base:bookworm --build-arg PIP_NO_INDEX=1 -t aismesh:dev .
#       without a registry: scripts/compose.sh makes that base image with debootstrap and fills
#       wheelhouse/ with every wheel the build needs (see docs/compose.md)
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# Build arguments are environment variables of RUN: pip reads PIP_NO_INDEX (1: wheelhouse only).
ARG PIP_NO_INDEX=0
# Optional extras of pyproject.toml to add, comma-separated: EXTRAS=oci puts the oci adapter's
# SDK (~570 MB) into the image, for `docker compose --profile oci up`.
ARG EXTRAS=""
ENV PATH=/opt/aismesh/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_FIND_LINKS=/wheelhouse
RUN python3 -m venv /opt/aismesh
# Dependencies first, so their layer survives code changes. pyproject.toml keeps this COPY
# valid when there is no wheelhouse/ (a wildcard may match nothing): pip then uses the index.
COPY pyproject.toml wheelhouse* /wheelhouse/
RUN python3 -c "import os, tomllib; p = tomllib.load(open('/wheelhouse/pyproject.toml', 'rb'))['project']; \
extras = [e for e in os.environ.get('EXTRAS', '').split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip install --quiet -r /tmp/requirements.txt
# The package itself; its build generates the gRPC modules (grpcio-tools, in an isolated
# build environment that also comes from the wheelhouse).
COPY pyproject.toml setup.py README.md /src/
COPY protos /src/protos
COPY aismesh /src/aismesh
COPY services /src/services
RUN pip install --quiet --no-deps /src \
    && python3 -c "import services.gateway, aismesh.protos.storage_pb2_grpc" && etcd --version >/dev/null

FROM ${BASE}
ENV PATH=/opt/aismesh/bin:$PATH PYTHONUNBUFFERED=1
# Services run as an unprivileged user; named volumes mounted on these folders start out
# owned by it (Docker copies the image's ownership into an empty volume).
RUN useradd --system --uid 10001 --home-dir /var/lib/aismesh --no-create-home aismesh \
    && mkdir -p /var/lib/aismesh /var/lib/etcd \
    && chown aismesh:aismesh /var/lib/aismesh /var/lib/etcd
COPY --from=build /opt/aismesh /opt/aismesh
USER aismesh
WORKDIR /var/lib/aismesh
# No default service: the compose file's `command:` says which one a container runs.
CMD ["bash"]
