# restage's image: the binary and PostgreSQL's client tools (pg_dump, pg_restore, psql) from
# the PostgreSQL project's apt repository (PGDG). restage refuses a pg_dump older than the
# server it dumps, so PG_MAJOR must be at least production's major:
#
#   docker build --build-arg PG_MAJOR=18 -t ghcr.io/example/restage:0.1.0 .
#
# It runs as an unprivileged user (uid 10001, what the refresh CronJob's securityContext
# names) and needs no writable path but TMPDIR (/tmp, an emptyDir in the CronJob).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the benchmarks: the manifest does not load without them.
COPY benches ./benches
# `restage demo` embeds its schema and rules.
COPY rules ./rules
COPY fixtures/demo ./fixtures/demo
RUN cargo build --release --locked --bin restage \
 && install -m 0755 target/release/restage /usr/local/bin/restage

FROM debian:${DEBIAN_RELEASE}-slim
ARG DEBIAN_RELEASE
ARG PG_MAJOR=18
# Debian's own postgresql-client lags behind; PGDG carries every supported major. Package
# versions are not pinned: the major is (PG_MAJOR), and minor releases are bug fixes only.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${DEBIAN_RELEASE}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" \
 && apt-get purge -y --auto-remove curl \
 && rm -rf /var/lib/apt/lists/* \
 && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version \
 && groupadd --system --gid 10001 restage \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin restage
COPY --from=builder /usr/local/bin/restage /usr/local/bin/restage
# restage finds pg_dump/pg_restore/psql here; TMPDIR is the only place it writes.
ENV RESTAGE_PG_BINDIR=/usr/lib/postgresql/${PG_MAJOR}/bin \
    TMPDIR=/tmp \
    HOME=/tmp
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENTRYPOINT ["restage"]
CMD ["--help"]
