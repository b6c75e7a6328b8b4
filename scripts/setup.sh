# Sourced by scripts/demo and scripts/test: what a fresh Debian machine needs before manifold
# builds. Debian packages (installed as root, through sudo when it is there), a Rust toolchain of
# at least the workspace's rust-version (rustup from static.rust-lang.org when there is none) with
# a C compiler for the crates that build C, Debian's static busybox of other architectures for the
# container-engine tests, a check that a TCP port is free, and a way to run a long build that says
# how long it has been at work.

# The oldest Rust the workspace builds with (Cargo.toml's rust-version).
MANIFOLD_RUST=1.94

say() { printf '\n== %s\n' "$*" >&2; }

# Runs a command as root: directly when root, through sudo when it is installed; otherwise says
# what to run and fails.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "this needs root and sudo is not installed; run as root: $*" >&2
    return 1
  fi
}

# Installs the Debian packages named that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} (Debian packages)"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Whether `rustc` is at least $MANIFOLD_RUST.
rust_is_recent() {
  local have
  have=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$MANIFOLD_RUST" "$have" | sort -V | head -n 1)" = "$MANIFOLD_RUST" ]
}

# Makes `cargo` (Rust >= $MANIFOLD_RUST, with rustfmt and clippy when `components` is given) and a C
# compiler available, installing rustup for this user when there is no recent enough Rust.
ensure_rust() {
  apt_install ca-certificates curl gcc libc6-dev pkg-config
  [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1 || ! rust_is_recent; then
    if command -v rustup >/dev/null 2>&1; then
      say "updating Rust to stable (manifold needs $MANIFOLD_RUST or later)"
      rustup toolchain install stable --profile minimal && rustup default stable
    else
      say "installing Rust with rustup (manifold needs $MANIFOLD_RUST or later; Debian's is older)"
      # rustup-init tells what it is from its file name: it must be called rustup-init.
      local dir
      dir=$(mktemp -d)
      curl -fsSL "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init" -o "$dir/rustup-init"
      chmod +x "$dir/rustup-init"
      "$dir/rustup-init" -y -q --profile minimal --default-toolchain stable
      rm -rf "$dir"
      PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
  if [ "${1:-}" = components ] && command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1
  fi
  export PATH
  rust_is_recent || { echo "Rust $MANIFOLD_RUST or later is needed; $(rustc --version 2>&1)" >&2; return 1; }
}

# The architectures whose busybox the engine tests' foreign images hold (Debian's names).
MANIFOLD_FOREIGN_ARCHES=(arm64 armhf s390x ppc64el)

# Puts Debian's busybox-static of each of $MANIFOLD_FOREIGN_ARCHES into
# $MANIFOLD_TEST_BUSYBOX_DIR (default /var/cache/manifold-test/busybox) as <arch>/busybox, where it
# is not there yet: apt-get downloads the packages with an apt state of its own in a temporary
# folder (this release's main archive, those architectures only), and dpkg-deb unpacks them. The
# machine's architectures and package lists stay as they are. MANIFOLD_DEBIAN_MIRROR names another
# mirror.
ensure_foreign_busybox() {
  local dest=${MANIFOLD_TEST_BUSYBOX_DIR:-/var/cache/manifold-test/busybox} arch missing=()
  for arch in "${MANIFOLD_FOREIGN_ARCHES[@]}"; do
    [ -x "$dest/$arch/busybox" ] || missing+=("$arch")
  done
  ((${#missing[@]})) || return 0
  say "fetching Debian's busybox-static for ${missing[*]} (the engine tests' foreign images)"
  local tmp codename opts packages=() status=0
  tmp=$(mktemp -d)
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "${MANIFOLD_DEBIAN_MIRROR:-http://deb.debian.org/debian} $codename main" >"$tmp/sources.list"
  opts=(-q -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
    -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o APT::Sandbox::User=root -o Acquire::Languages=none)
  for arch in "${missing[@]}"; do
    opts+=(-o "APT::Architectures::=$arch")
    packages+=("busybox-static:$arch")
  done
  if as_root apt-get "${opts[@]}" update >/dev/null &&
    (cd "$tmp/debs" && as_root apt-get "${opts[@]}" download "${packages[@]}" >/dev/null); then
    for arch in "${missing[@]}"; do
      dpkg-deb -x "$tmp"/debs/busybox-static_*_"$arch".deb "$tmp/$arch" &&
        as_root install -D -m 0755 "$tmp/$arch/bin/busybox" "$dest/$arch/busybox" || status=1
    done
  else
    status=1
  fi
  as_root rm -rf "$tmp"
  return "$status"
}

# Fails, saying what uses it, when something already listens on 127.0.0.1:$1.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 on 127.0.0.1 is taken (by: $(ss -ltnpH "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n 1)); $2" >&2
    return 1
  fi
}

# Runs a command (a cargo build) with its output, stderr included, line by line as it comes; while
# it prints nothing for $PROGRESS_EVERY seconds (30), says how long it has been at work and the two
# crates it started last: a release build compiles its last crates, manifold among them, for
# minutes without a word. Returns the command's status.
with_progress() {
  local every=${PROGRESS_EVERY:-30} started=$SECONDS
  { local ran=0; "$@" 2>&1 || ran=$?; printf '\n::exit %d\n' "$ran"; } | {
    local line crate="" crates="" status=1 waited
    while :; do
      if IFS= read -r -t "$every" line; then
        case $line in
          "::exit "*) status=${line#::exit }; break ;;
          "") continue ;;
          *Compiling*|*Checking*)
            crates="$(awk '{print $2}' <<<"$line")${crate:+, $crate}"
            crate=${crates%%,*}
            ;;
        esac
        printf '%s\n' "$line"
      elif [ $? -gt 128 ]; then
        waited=$((SECONDS - started))
        printf '   … still at work after %d min %02d s%s\n' $((waited / 60)) $((waited % 60)) \
          "${crates:+ (the crates started last: $crates)}"
      else
        break
      fi
    done
    return "$status"
  }
}
