# rc-voice-host: Node 24 LTS + Debian's Chromium, running the TypeScript sources with tsx.
#
#   docker build -t rc-voice-host .                       # the runtime image
#   docker build --target debug -t rc-voice-host:debug .  # plus Xvfb, for headful Chrome
#   deploy/image.sh                                       # the same with buildah, then the demo inside
#                                                         # (no Docker engine needed; docs/DEPLOY.md)
#   docker run --init --env-file .env -p 8080:8080 --cap-add=SYS_ADMIN \
#     -v rc-voice-host-cache:/app/.cache rc-voice-host
#
# Smoke test with no account (the offline twin + echo pipeline, inside the container):
#   docker run --rm --cap-add=SYS_ADMIN rc-voice-host npm run demo
ARG BASE=node:24-bookworm-slim
FROM ${BASE} AS runtime

# Chromium from Debian (Puppeteer never downloads a browser: see .puppeteerrc.cjs) and one font
# set; no recommends, no apt lists, no docs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-sandbox fonts-liberation ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + \
 && find /usr/lib/chromium/locales -type f ! -name en-US.pak -delete

# HTTP_HOST=0.0.0.0: /health and /ready must be reachable from outside the container.
ENV CHROME_PATH=/usr/bin/chromium \
    HEADLESS=true \
    HTTP_HOST=0.0.0.0 \
    PUPPETEER_SKIP_DOWNLOAD=true

WORKDIR /app

# Dependencies first, so source edits don't reinstall them. tsx and esbuild are runtime
# dependencies (the host runs .ts directly and bundles the page at start), so dev
# dependencies (typescript, vitest, @types) can be left out.
COPY package.json package-lock.json .puppeteerrc.cjs ./
# A TLS-intercepting proxy's CA for the build only (deploy/image.sh passes the machine's): not kept.
ARG NODE_EXTRA_CA_CERTS
# typescript (23 MB) comes in as an optional peer of puppeteer's config loader, which loads it only
# for a .ts config file; there is none (.puppeteerrc.cjs).
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
 && npm cache clean --force && rm -rf /root/.npm /tmp/*

# twin/ and examples/ are only for `npm run demo` in the container; npm start doesn't load them.
COPY tsconfig.json ./
COPY host ./host
COPY browser ./browser
COPY bridge ./bridge
COPY twin ./twin
COPY examples ./examples

# The sipInfo cache (SIP_INFO_CACHE, default .cache/sip-info.json) and the demo's recordings are
# written here: mount a volume on /app/.cache so sipInfo is reused across restarts.
RUN mkdir -p .cache recordings && chown node:node .cache recordings

# Non-root, so Chrome keeps its sandbox (host/chrome.ts adds --no-sandbox only when running as
# root). Chrome's sandbox needs user namespaces, which Docker's default seccomp profile usually
# refuses; chromium-sandbox (Debian's setuid helper) is there for runtimes that allow neither.
# If Chrome then fails to launch, the host's error quotes Chrome ("No usable sandbox!", or a
# zygote "Operation not permitted"), and the choices are:
#   --cap-add=SYS_ADMIN                 sandbox on; the container gets broad privileges
#   --security-opt seccomp=chrome.json  sandbox on; a seccomp profile allowing the namespace calls
#   --user root                         Chrome runs with --no-sandbox; a renderer exploit (from
#                                       SIP/WebRTC input) would be root inside the container
USER node

EXPOSE 8080

# /health answers while the process serves HTTP (from before Chrome starts). For a readiness
# probe (Chrome up and the WebPhone registered), use /ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# This is `npm start` without npm. When npm runs the host (npm → sh → tsx → node), a SIGTERM to
# npm never reaches the host, so `docker stop` would kill it without hanging up or unregistering.
# Run with `docker run --init` (or tini) so Chrome's exited helper processes are reaped.
CMD ["node", "--import", "tsx", "host/cli.ts"]

# Headful debugging: Chrome in a real (virtual) X display. Run with HEADLESS=false under xvfb-run
# and watch it through Chrome's DevTools (docs/DEPLOY.md, "Watching Chrome").
FROM runtime AS debug
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends xvfb xauth \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
USER node
ENV HEADLESS=false
CMD ["xvfb-run", "-a", "node", "--import", "tsx", "host/cli.ts"]

# The default target stays the runtime image.
FROM runtime
