# attnviz: the Streamlit app with the shipped model, as a non-root container.
#   docker build -t attnviz .
#   docker run --rm -p 8501:8501 -v attnviz-data:/data attnviz      → http://localhost:8501
# See docs/deployment.md (replicas, session affinity, Kubernetes probes). Written and reviewed, not built on
# the development machine (no Docker daemon there): treat the first build as a test.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    # Writable state lives on a volume, never in the image: models trained in the browser and the corpus cache.
    ATTNVIZ_USER_MODELS_DIR=/data/user_models \
    ATTNVIZ_CACHE_DIR=/data/cache \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none

WORKDIR /app

# Dependencies first, so code edits do not reinstall TensorFlow. Pinned versions (requirements.txt).
COPY requirements.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt

# An unprivileged user that owns only /data; the code and the shipped model stay root-owned and read-only.
RUN groupadd --system --gid 10001 attnviz \
 && useradd --system --uid 10001 --gid attnviz --create-home --home-dir /home/attnviz attnviz \
 && mkdir -p /data/user_models /data/cache \
 && chown -R attnviz:attnviz /data
COPY . .
# Prove at build time that the shipped model loads and analyses a sentence (fails the build otherwise).
RUN python -m attnviz.health

USER attnviz
VOLUME ["/data"]
EXPOSE 8501

# Liveness of the web server (cheap: no TensorFlow work). The model itself was checked at build time and is
# checked again at container start by the command below.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(0 if r.read().strip() == b'ok' else 1)"]

# Refuse to start serving if the model cannot be loaded (clear message in the logs), then run the app.
CMD ["sh", "-c", "python -m attnviz.health && exec streamlit run app.py"]
