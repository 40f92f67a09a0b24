# Qorgau: the bot in a small image.
#   docker build -t qorgau .
#   docker run -d --name qorgau --restart unless-stopped --env-file .env -v qorgau-data:/data qorgau
# or `docker compose up -d` with compose.yaml. See README "## Deploying".
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# The dependencies first, read from pyproject.toml alone: a change to the code reuses this
# layer instead of downloading and installing them again.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write(chr(10).join(deps))" \
    && pip install --no-cache-dir -r requirements.txt \
    && rm requirements.txt

# A non-root user with a fixed numeric id, so that a bind-mounted host folder can be given
# to it (chown 10001:10001) and Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 qorgau \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin qorgau \
    && mkdir -p /data \
    && chown 10001:10001 /data

# The code, installed without its dependencies (they are in the layer above).
COPY . .
RUN pip install --no-cache-dir --no-deps .

# The database (and its lock file) live in /data: a named volume, or a bind mount of a
# folder owned by 10001. /healthz, /metrics (and a webhook) are served on 8080 on every
# address of the container (reachable from outside only where a port is published);
# PTB_TIMEDELTA opts python-telegram-bot 22 into timedeltas.
ENV QORGAU_DATABASE=/data/qorgau.db \
    QORGAU_HTTP_HOST=0.0.0.0 \
    QORGAU_HTTP_PORT=8080 \
    PTB_TIMEDELTA=1
VOLUME /data
EXPOSE 8080

USER 10001:10001
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["qorgau", "healthcheck"]
CMD ["qorgau", "run"]
