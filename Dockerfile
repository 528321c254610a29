# orchestrator serve as a Docker Space (or any container host): Hub webhooks in, a status page out.
# Build: docker build -t orchestrator-serve .   Run: docker run -p 7860:7860 --env-file serve.env orchestrator-serve
# Settings come from the environment (the Space's secrets and variables): WEBHOOK_SECRET, HF_TOKEN,
# DATABASE_URL, STATUS_TOKEN, ..., and ORCHESTRATOR_CONFIG for a TOML file baked in or mounted.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Spaces run the container as user 1000.
RUN useradd --create-home --uid 1000 app
WORKDIR /home/app/orchestrator
COPY --chown=app pyproject.toml README.md ./
COPY --chown=app orchestrator ./orchestrator
# Your labels and targets: copy your TOML file in (and set ORCHESTRATOR_CONFIG to it), or leave this out
# and configure the seed's two labels with the seed's variables only.
# COPY --chown=app orchestrator.toml ./orchestrator.toml
# ENV ORCHESTRATOR_CONFIG=/home/app/orchestrator/orchestrator.toml
RUN pip install --no-cache-dir -r orchestrator/requirements.txt && pip install --no-cache-dir --no-deps . \
    && pip install --no-cache-dir "starlette>=0.40,<2" "uvicorn>=0.30,<1" "apprise>=1.9,<2"
USER app
# 7860 is the port a Docker Space exposes by default.
EXPOSE 7860
CMD ["orchestrator", "serve", "--host", "0.0.0.0", "--port", "7860"]
