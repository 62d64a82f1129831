# The operator image the chart names (ghcr.io/headway-dev/headway). See docs/install.md.
FROM node:20-slim AS page
WORKDIR /src/console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console ./
RUN mkdir -p ../operator/headway/console/static && npm run build

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY operator ./operator
COPY --from=page /src/operator/headway/console/static/app.js ./operator/headway/console/static/
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/requirements.lock headway \
    && rm -rf /wheels /tmp/requirements.lock
USER 65532:65532
ENTRYPOINT ["headway"]
CMD ["operator"]
