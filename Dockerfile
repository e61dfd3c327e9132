# blogapi image: `docker build -t blogapi .`, then `docker run -e SECRET_KEY=... -p 8000:8000 blogapi`.
# Two stages: the first builds a virtualenv from the pinned requirements, the second copies only
# that virtualenv and the code onto a clean base, so no pip cache or build files reach production.
# Python matches the 3.11 that CI tests; bump the patch tag deliberately.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
# Only the requirements first: this layer is rebuilt when they change, not on every code edit.
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --progress-bar off -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=blogapi.settings
RUN groupadd --system --gid 10001 blogapi \
    && useradd --system --uid 10001 --gid blogapi --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin blogapi
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
# Static files are collected into the image (whitenoise serves them); settings refuse to load
# without SECRET_KEY when DEBUG is false, so this one step gets a throwaway build-only key.
# Bytecode is compiled now because the running container cannot write to /app.
RUN SECRET_KEY=build-only-collectstatic-key DEBUG=false \
        python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q /app
USER 10001:10001
EXPOSE 8000
# Liveness of the process only (/healthz touches no database); slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4); sys.exit(r.status != 200)"]
# gunicorn.conf.py in /app is read automatically: bind (GUNICORN_BIND), workers (WEB_CONCURRENCY),
# logs (LOG_FORMAT; the app logs each request), the metrics folder.
CMD ["gunicorn", "blogapi.wsgi"]
