# syntax=docker/dockerfile:1
# ta-guard's webhook image; `make docker-build` builds it. The binary is built
# as `make build` builds it: static (CGO off), -trimpath,
# -ldflags '-s -w -X github.com/ta-guard/ta-guard/internal/cli.version=$(VERSION)' (test/deploy checks the two agree).
#
# Both base images are pinned by digest (the multi-arch index), so a rebuild
# of the same commit starts from the same bytes and a moved tag cannot
# change what ships. The tag stays beside the digest for readers and for
# Renovate/Dependabot, which update the pair. To refresh by hand:
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian13:nonroot --format '{{json .Manifest.Digest}}'

FROM --platform=$BUILDPLATFORM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X github.com/ta-guard/ta-guard/internal/cli.version=${VERSION}" -o bin/ta-guard ./cmd/ta-guard

# Distroless static, nonroot: no shell, no package manager; uid/gid 65532,
# the user the Deployment runs as.
FROM gcr.io/distroless/static-debian13:nonroot@sha256:1c2c046bc09ed40fad370b599a0b1ae7987f55b01e247cf27a7c27cd97e5bbc7
COPY --from=build /src/bin/ta-guard /ta-guard
USER 65532:65532
ENTRYPOINT ["/ta-guard"]
CMD ["serve"]
