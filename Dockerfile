# Qorgau: the bot in a small image. Build: docker build -t qorgau .
# Run:   docker run -d --env-file .env -v qorgau-data:/data qorgau
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
    && useradd --system --create-home --home-dir /home/qorgau --shell /usr/sbin/nologin qorgau \
    && mkdir -p /data \
    && chown qorgau:qorgau /data

# The database lives in the volume; PTB_TIMEDELTA opts python-telegram-bot 22 into timedeltas.
ENV QORGAU_DATABASE=/data/qorgau.db \
    PTB_TIMEDELTA=1
VOLUME /data

USER qorgau
CMD ["qorgau", "run"]
