# The one image of RunnerHub's web tier, scheduler and jobs (deploy/). By default it serves the
# webhook and the pages: `gunicorn runnerhub.wsgi` with gunicorn.conf.py; the scheduler's
# Deployment runs `python manage.py run_scheduler` from the same image.
FROM python:3.11-slim

# No .pyc written at run time (the root filesystem is read-only in deploy/; they are compiled
# below instead), and logs reach `kubectl logs` as they are written.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY . .

# Static files are part of the image, served by WhiteNoise. collectstatic runs only the
# staticfiles checks, so a throwaway key is enough here; production sets its own SECRET_KEY.
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
    && python -m compileall -q /app

# A numeric user, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin runnerhub
USER 10001:10001

EXPOSE 8080
CMD ["gunicorn", "runnerhub.wsgi"]
