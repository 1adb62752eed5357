FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY durable_queue ./durable_queue
COPY durablectl ./durablectl
COPY clients ./clients
COPY queries ./queries
COPY migrations ./migrations
# the client (its own distribution) and the server, which depends on it by name and version
RUN pip install --no-cache-dir ./clients/python .

EXPOSE 8080
# `serve` applies pending migrations (under an advisory lock) before listening.
CMD ["durable-queue", "serve", "--host", "0.0.0.0", "--port", "8080"]
