# syntax=docker/dockerfile:1
# Build a static binary, then run it as a non-root user with state in /data.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/amplifybackendd ./cmd/amplifybackendd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/amplifybackendd /usr/local/bin/amplifybackendd
# The volume starts owned by the runtime user, so the server can write to it.
COPY --from=build --chown=65532:65532 /out/data /data
# Inside a container the listeners must not be loopback-only. The embedded
# S3 gateway stores objects with extended attributes: /data needs a
# filesystem with user xattrs (ext4, xfs).
ENV AMPLIFYBACKENDD_LISTEN=0.0.0.0:8080 \
    AMPLIFYBACKENDD_EMBEDDED_S3_LISTEN=0.0.0.0:9000 \
    AMPLIFYBACKENDD_EMBEDDED_IAM_LISTEN=0.0.0.0:9001 \
    AMPLIFYBACKENDD_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080 9000 9001
USER nonroot:nonroot
# Healthy means ready (GET /readyz): store open, jobs recovered, target
# answering, not shutting down. The image has no curl; the binary probes
# itself, finding the API (and its TLS settings) in the variables above.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/amplifybackendd", "ready"]
ENTRYPOINT ["/usr/local/bin/amplifybackendd"]
