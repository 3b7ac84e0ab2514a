FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git linux-source-6.12 xz-utils build-essential flex bison bc libelf-dev libssl-dev dwarves ccache bubblewrap \
    qemu-system-x86 busybox-static cpio iproute2 ethtool openssh-client \
    && rm -rf /var/lib/apt/lists/*
# Workers run as root in the container; untrusted builds and boots drop to this user (src/sandbox/identity.ts).
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ksci-sandbox
WORKDIR /opt/ksci
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
ENTRYPOINT []
