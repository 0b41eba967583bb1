# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with its dependencies, then a slim non-root runtime.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clients ./clients
COPY server ./server
RUN python -m venv /opt/vectorgate \
 && /opt/vectorgate/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/vectorgate/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /var/lib/vectorgate --create-home vectorgate
COPY --from=build /opt/vectorgate /opt/vectorgate
ENV PATH=/opt/vectorgate/bin:$PATH \
    OPENBLAS_NUM_THREADS=1 \
    PYTHONUNBUFFERED=1
USER vectorgate
WORKDIR /var/lib/vectorgate
VOLUME ["/var/lib/vectorgate"]
EXPOSE 50051 4000
# gRPC health check (grpc.health.v1) with the client libraries already installed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD \
  python -c "import grpc,sys;from grpc_health.v1 import health_pb2 as h,health_pb2_grpc as g;\
c=grpc.insecure_channel('127.0.0.1:50051');\
r=g.HealthStub(c).Check(h.HealthCheckRequest(),timeout=4);\
sys.exit(0 if r.status==h.HealthCheckResponse.SERVING else 1)"
# Binding beyond loopback inside the container: the port is only reachable through
# the container's published ports.
ENTRYPOINT ["vectorgate", "serve", "--host", "0.0.0.0", "--data-dir", "/var/lib/vectorgate/data"]
