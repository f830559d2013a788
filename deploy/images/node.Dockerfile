# Node 20 from the npm registry (the `node@20` package carries the official binary; npm from
# the `npm` package): stands in for node:20-bookworm-slim where no registry answers. The
# context (made by base.sh) holds node, npm and this machine's CA bundle, which npm needs when
# TLS to the registry goes through a proxy that bundle trusts.
ARG DEBIAN_IMAGE=zerog-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca.crt /usr/local/share/zerog/host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/zerog/host-ca.crt
CMD ["node"]
