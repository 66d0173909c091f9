# Crosswire WAMP router. Build: docker build -t crosswire .
# Run:   docker run -p 8080:8080 crosswire            (embedded default: realm1, anonymous)
#        docker run -p 8080:8080 -v $PWD/my.json:/app/config/my.json crosswire start --config config/my.json
# Debian bookworm: the uWebSockets.js binary we ship needs glibc >= 2.36 and Node 20 (ABI 115).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    CROSSWIRE_INTERFACE=0.0.0.0 \
    CROSSWIRE_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
COPY config ./config
USER node
EXPOSE 8080
# Plain HTTP GET on the WebSocket port answers 200 with a status page.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CROSSWIRE_PORT || 8080) + '/').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: node is PID 1's child-free main process and receives SIGTERM directly.
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
