# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) -t cas-reconciler .
# deploy/check.sh performs the same build (same flags) in CI, where no Docker engine runs.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# BUILD-FLAGS (kept identical in deploy/check.sh)
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/cas-reconciler/reconciler/internal/version.Version=${VERSION} -X github.com/cas-reconciler/reconciler/internal/version.Commit=${COMMIT}" -o /out/reconciler ./cmd/reconciler
RUN mkdir -p /out/cache && /out/reconciler version

# distroless static: CA certificates, /etc/passwd with nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reconciler /usr/local/bin/reconciler
COPY --from=build --chown=65532:65532 /out/cache /var/cache/reconciler
USER 65532:65532
ENV HOME=/var/cache/reconciler TMPDIR=/var/cache/reconciler
# The root filesystem may be read-only: the git cache and temporary files go to
# /var/cache/reconciler, which the Deployment mounts as an emptyDir.
VOLUME ["/var/cache/reconciler"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/reconciler"]
CMD ["run", "--config", "/etc/reconciler/config.yaml"]
