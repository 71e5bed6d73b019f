# The calhousing pipeline in a container.
#   docker build -t calhousing .
#   docker run --rm -v "$SCIKIT_LEARN_DATA:/data:ro" -e SCIKIT_LEARN_DATA=/data \
#       -v calhousing-artifacts:/app/artifacts -v calhousing-reports:/app/reports calhousing
# The default command trains, quantizes, compares and renders /app/reports/report.html, then
# prints a summary; `docker run IMAGE calhousing run -p bits 4` passes parameters through.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pip as .venv has it (constraints.txt was made with it), then the dependencies exactly as
# pyproject.toml names them and constraints.txt pins them: this slow layer is rebuilt only when
# one of those two files changes.
WORKDIR /tmp/build
COPY pyproject.toml constraints.txt ./
RUN pip install --no-cache-dir pip==26.3 \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r requirements.txt

# Then the library itself (not editable: the image holds no source tree), checked for
# consistency, and the Jupyter kernel papermill starts ("python3", as the notebooks name it).
COPY lib/ lib/
RUN pip install --no-cache-dir --no-deps -c constraints.txt . \
    && pip check \
    && python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" \
    && rm -rf /tmp/build

# /app is the project root the installed package falls back to: notebooks/ beside the outputs.
# The run stages its outputs inside the two volumes and keeps its lock files and any
# reports-failed-* folder in /app, so the user owns /app.
WORKDIR /app
RUN useradd --create-home --uid 10001 --user-group calhousing \
    && mkdir artifacts reports \
    && chown calhousing:calhousing /app /app/artifacts /app/reports
COPY notebooks/ notebooks/
COPY docker/entrypoint.sh /usr/local/bin/calhousing-entrypoint
# the notebooks wherever the container's working directory is (`docker run -w ...`)
ENV CALHOUSING_NOTEBOOKS=/app/notebooks

USER 10001:10001
# matplotlib's font cache, built once here instead of in every container's first kernel
RUN python -c "import matplotlib.pyplot"
VOLUME ["/app/artifacts", "/app/reports"]
ENTRYPOINT ["calhousing-entrypoint"]
CMD ["calhousing", "run"]
