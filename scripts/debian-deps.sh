# Sourced by .ci/run and scripts/quickstart.sh: installs the Debian packages
# ksci needs when they are missing (root, or sudo, required for that).
#   redis-server       the embedded queue (BullMQ needs a real Redis)
#   git                applying series (git am -3), tree mirrors
#   linux-source-6.12  the default base tree: a real 6.12 kernel source
#   xz-utils           unpacking that tree
#   build-essential flex bison bc libelf-dev libssl-dev
#                      building kernels (what the kernel's own docs list)
#   dwarves            pahole, for configs with BTF (bpf, perf)
#   ccache             warm rebuilds
#   bubblewrap         the sandbox every build and VM runs in (no network, no secrets)
#   qemu-system-x86    the test VMs (KVM when it works, else TCG emulation)
#   busybox-static cpio
#                      the guest's userspace and its initramfs
#   iproute2 ethtool   ip/tc/ethtool for network tests in the guest
#   openssh-client     bare-metal perf hosts are driven over SSH
#   openssh-server     the real sshd on loopback the bare-metal runner's tests talk to
#   public-inbox b4    a real lore server (public-inbox-httpd) and b4 for the lore tests
KSCI_DEBIAN_PACKAGES=(redis-server git linux-source-6.12 xz-utils
  build-essential flex bison bc libelf-dev libssl-dev dwarves ccache bubblewrap
  qemu-system-x86 busybox-static cpio iproute2 ethtool openssh-client openssh-server
  public-inbox b4)
# What the tests need besides (.ci/run installs both lists):
#   clang-19 lld-19 llvm-19 rsync zstd
#                      building the BPF selftests (rsync: their Makefile;
#                      zstd: unpacking Debian's kernel for its BTF)
#   chromium           the dashboard's browser tests (driven by playwright-core)
KSCI_TEST_PACKAGES=(clang-19 lld-19 llvm-19 rsync zstd chromium)

# ensure_debian_packages [PACKAGE...]: installs those missing (default: KSCI_DEBIAN_PACKAGES).
ensure_debian_packages() {
  local missing=() p
  [ $# -gt 0 ] || set -- "${KSCI_DEBIAN_PACKAGES[@]}"
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "ksci: installing Debian packages: ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ensure_sandbox_user [NAME]: when run as root (or with sudo), creates the
# unprivileged system user a root worker runs builds and boots as
# (config sandbox.user, default ksci-sandbox; src/sandbox/identity.ts).
# A worker that is not root runs them as itself and needs none.
ensure_sandbox_user() {
  local user=${1:-ksci-sandbox}
  id -u "$user" >/dev/null 2>&1 && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "ksci: creating the sandbox user $user (untrusted builds never run as root)" >&2
  "${sudo[@]}" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
}
