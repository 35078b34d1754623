# syntax=docker/dockerfile:1
# ta-guard's webhook image; `make docker-build` builds it. The binary is built
# as `make build` builds it: static (CGO off), -trimpath,
# -ldflags '-s -w -X main.version=$(VERSION)' (test/deploy checks the two agree).

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
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
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o bin/ta-guard ./cmd/webhook

# Distroless static, nonroot: no shell, no package manager; uid/gid 65532,
# the user the Deployment runs as.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /src/bin/ta-guard /ta-guard
USER 65532:65532
ENTRYPOINT ["/ta-guard"]
CMD ["serve"]
