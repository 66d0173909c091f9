# Crosswire WAMP router. Build: docker build -t crosswire .
# Run:   docker run -p 8080:8080 crosswire            (embedded default: realm1, anonymous)
#        docker run -p 8080:8080 -v $PWD/my.json:/app/config/my.json crosswire start --config config/my.json
# Ops:   GET /metrics, /health, /ready on 8080; or -e CROSSWIRE_OPS_PORT=9100 -p 9100:9100 for a
#        separate listener (add -e CROSSWIRE_OPS_ON_TRANSPORTS=health to keep /metrics off 8080).
# Stop:  docker stop sends SIGTERM: the router drains (shutdown_timeout, 3 s, plus up to 1 s for
#        GOODBYE replies), well within docker's default 10 s grace period, and exits 0.
# Python components (docs/python-components.md): docker build --build-arg WITH_PYTHON=1 -t crosswire:python .
#        adds Debian's python3 and python3-autobahn (Twisted and asyncio); the default image has no Python.
# Node 24 LTS on Debian 13 (trixie, glibc 2.41): uWebSockets.js 20.57's Linux binaries need
# glibc >= 2.38 (docs/platforms.md), so bookworm (2.36) images would not load them on Node 24.

FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
RUN npx tsc -p tsconfig.json

FROM node:24-trixie-slim
ARG WITH_PYTHON=0
RUN if [ "$WITH_PYTHON" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-autobahn && rm -rf /var/lib/apt/lists/*; \
    fi
ENV NODE_ENV=production \
    CROSSWIRE_INTERFACE=0.0.0.0 \
    CROSSWIRE_PORT=8080 \
    CROSSWIRE_OPS_INTERFACE=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# uWebSockets.js-20.30 (optional) is for Node 20 on glibc < 2.38 only: 20.57 loads here.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/uWebSockets.js-20.30 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
COPY config ./config
COPY python ./python
USER node
EXPOSE 8080
STOPSIGNAL SIGTERM
# Liveness: GET /health on the WebSocket port (200 while the main thread answers; it stays 200
# during a drain, when /ready turns 503). The image has no curl/wget; node does the request.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CROSSWIRE_PORT || 8080) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: node is PID 1's child-free main process and receives SIGTERM directly.
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
